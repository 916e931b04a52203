import { SwitchboardError } from 'switchboard-client';
import { detailOf } from './api.js';
import { h } from './dom.js';

/** Another way out of the dialog than a token: "Continue as guest", "Log in again". */
export interface TokenDialogAction {
  label: string;
  /** Resolves when done (the dialog closes); a rejection shows in the dialog. */
  run(): Promise<void>;
}

export interface TokenDialogOptions {
  /** Heading (default "This server needs a token"). */
  title?: string;
  /** Why the dialog shows (under the heading). */
  message?: string;
  /** A problem to show at once ("Your token has expired"). */
  error?: string;
  /** Cancel and Escape close it (false at start: the app cannot go on without an answer). */
  dismissable: boolean;
  /** Checks and uses a pasted token; a rejection (UNAUTHORIZED...) shows in the dialog. */
  submit(token: string): Promise<void>;
  actions?: TokenDialogAction[];
}

/** A pasted token without what often comes along: "Bearer ", quotes, line breaks. */
export function cleanToken(raw: string): string {
  return raw.replace(/\s+/g, ' ').trim().replace(/^Bearer\s+/i, '').replace(/^["']|["']$/g, '').replace(/\s+/g, '');
}

/** A readable sentence for a refused token. */
export function tokenProblem(err: unknown): string {
  if (err instanceof SwitchboardError) {
    if (err.code === 'TOKEN_EXPIRED') return 'This token has expired. Ask for a new one.';
    if (err.code === 'UNAUTHORIZED') return `This token was not accepted${detailOf(err) ? ` (${detailOf(err)})` : ''}. Check that you copied all of it.`;
    if (err.code === 'FORBIDDEN') return 'This token does not give you any rights here.';
  }
  return `Could not check the token: ${err instanceof Error ? err.message : String(err)}`;
}

/**
 * "This server needs a token": a field to paste an access token, checked with the server before
 * the dialog closes, and other ways on (guest, dev login). Resolves true once one succeeded,
 * false when dismissed. Built like the name dialog (a modal <dialog>, labelled, errors in an
 * alert region tied to the field).
 */
export function askToken(options: TokenDialogOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const input = h('textarea', {
      class: 'token-input',
      attrs: { id: 'token-input', name: 'token', rows: 4, autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'token-hint token-error', placeholder: 'eyJhbGciOi…' },
      on: {
        keydown: (e) => {
          // A token is one line: Enter submits.
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            form.requestSubmit();
          }
        },
        input: () => showError(undefined),
      },
    });
    const error = h('p', { class: 'field-error', attrs: { id: 'token-error', role: 'alert', hidden: true } });
    const submitButton = h('button', { class: 'primary', attrs: { type: 'submit' } }, 'Connect');
    const buttons: HTMLButtonElement[] = [submitButton];
    const actionButtons = (options.actions ?? []).map((action) => {
      const button = h('button', { attrs: { type: 'button' }, on: { click: () => void attempt(() => action.run(), button) } }, action.label);
      buttons.push(button);
      return button;
    });
    const form = h(
      'form',
      {
        // The field's own message (below) says what is wrong, not the browser's bubble.
        attrs: { novalidate: true },
        on: {
          submit: (e) => {
            e.preventDefault();
            const token = cleanToken(input.value);
            if (!token) {
              showError('Please paste a token.');
              input.focus();
              return;
            }
            void attempt(() => options.submit(token), submitButton, true);
          },
        },
      },
      h('h2', { attrs: { id: 'token-title' } }, options.title ?? 'This server needs a token'),
      h('p', { class: 'muted', attrs: { id: 'token-message' } }, options.message ?? 'Paste the access token you were given to chat here.'),
      h('label', { attrs: { for: 'token-input' } }, 'Access token'),
      input,
      error,
      h('p', { class: 'field-hint muted', attrs: { id: 'token-hint' } }, 'A token is a long line of letters and digits in three parts separated by dots. It is kept on this device.'),
      h(
        'div',
        'dialog-actions',
        options.dismissable ? h('button', { attrs: { type: 'button' }, on: { click: () => finish(false) } }, 'Cancel') : null,
        ...actionButtons,
        submitButton,
      ),
    );
    const dialog = h('dialog', { class: 'name-dialog token-dialog', attrs: { 'aria-labelledby': 'token-title', 'aria-describedby': 'token-message' } }, form);
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      if (options.dismissable) finish(false);
    });
    // A second Escape closes a modal dialog whatever 'cancel' does (Chromium, without a click
    // or key between): one that cannot be dismissed opens again, the app cannot go on without it.
    dialog.addEventListener('close', () => {
      if (done) return;
      if (options.dismissable) return finish(false);
      dialog.showModal();
      input.focus();
    });

    let busy = false;
    async function attempt(run: () => Promise<void>, button: HTMLButtonElement, isToken = false): Promise<void> {
      if (busy) return;
      busy = true;
      const label = button.textContent;
      for (const b of buttons) b.disabled = true;
      button.textContent = isToken ? 'Checking…' : 'One moment…';
      dialog.setAttribute('aria-busy', 'true');
      try {
        await run();
        finish(true);
      } catch (err) {
        showError(isToken ? tokenProblem(err) : err instanceof Error ? err.message : String(err));
        if (isToken) input.focus();
      } finally {
        busy = false;
        for (const b of buttons) b.disabled = false;
        button.textContent = label;
        dialog.removeAttribute('aria-busy');
      }
    }

    function showError(text: string | undefined): void {
      error.hidden = text === undefined;
      error.textContent = text ?? '';
      input.setAttribute('aria-invalid', String(text !== undefined));
    }

    // Focus goes back where it was (the button that opened the dialog) when it closes.
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
    let done = false;
    function finish(ok: boolean): void {
      if (done) return;
      done = true;
      dialog.close();
      dialog.remove();
      if (opener?.isConnected) opener.focus();
      resolve(ok);
    }

    document.body.append(dialog);
    dialog.showModal();
    if (options.error) showError(options.error);
    input.focus();
  });
}
