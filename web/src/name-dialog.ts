import { MAX_NAME_LENGTH } from 'switchboard-client';
import { h } from './dom.js';

/** A display name as the server accepts it (1-64 characters, no control characters), or an error. */
export function checkName(raw: string): { name: string } | { error: string } {
  const name = raw.trim().replace(/\s+/g, ' ');
  if (!name) return { error: 'Please enter a name.' };
  if ([...name].length > MAX_NAME_LENGTH || name.length > MAX_NAME_LENGTH) return { error: `Names are at most ${MAX_NAME_LENGTH} characters.` };
  if (/\p{Cc}/u.test(name) || !name.isWellFormed()) return { error: 'Names cannot contain control characters.' };
  return { name };
}

/**
 * Asks for the display name: on the first visit (cannot be dismissed) or to change it. Resolves
 * with the name, or undefined when a change was cancelled.
 */
export function askName(options: { current?: string; firstVisit: boolean }): Promise<string | undefined> {
  return new Promise((resolve) => {
    const input = h('input', { attrs: { id: 'name-input', name: 'name', autocomplete: 'nickname', maxlength: MAX_NAME_LENGTH, required: true, 'aria-describedby': 'name-error', value: options.current ?? '' } });
    const error = h('p', { class: 'field-error', attrs: { id: 'name-error', role: 'alert', hidden: true } });
    const dialog = h(
      'dialog',
      { class: 'name-dialog', attrs: { 'aria-labelledby': 'name-title' } },
      h(
        'form',
        {
          on: {
            submit: (e) => {
              e.preventDefault();
              const checked = checkName(input.value);
              if ('error' in checked) {
                error.hidden = false;
                error.textContent = checked.error;
                input.setAttribute('aria-invalid', 'true');
                input.focus();
                return;
              }
              finish(checked.name);
            },
          },
        },
        h('h2', { attrs: { id: 'name-title' } }, options.firstVisit ? 'Welcome to Switchboard' : 'Change your name'),
        h('p', 'muted', options.firstVisit ? 'Pick the name others will see. It is remembered on this device.' : 'The room will see your new name from your next message.'),
        h('label', { attrs: { for: 'name-input' } }, 'Your name'),
        input,
        error,
        h(
          'div',
          'dialog-actions',
          options.firstVisit ? null : h('button', { attrs: { type: 'button' }, on: { click: () => finish(undefined) } }, 'Cancel'),
          h('button', { class: 'primary', attrs: { type: 'submit' } }, options.firstVisit ? 'Start chatting' : 'Save'),
        ),
      ),
    );
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      if (!options.firstVisit) finish(undefined);
    });
    // Chromium lets a second Escape without a click or key in between close a modal dialog
    // whatever 'cancel' does (no cancel, or one not cancelable): the first visit would be a
    // blank page, a change a dialog that never answers.
    dialog.addEventListener('close', () => {
      if (done) return;
      if (!options.firstVisit) return finish(undefined);
      dialog.showModal();
      input.focus();
    });
    let done = false;
    function finish(name: string | undefined): void {
      if (done) return;
      done = true;
      dialog.close();
      dialog.remove();
      resolve(name);
    }
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
    input.select();
  });
}
