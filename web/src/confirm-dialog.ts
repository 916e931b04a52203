import { h } from './dom.js';

/**
 * A modal question with a confirming and a cancelling button ("Delete message?" / "Delete",
 * "Cancel"). Escape and "Cancel" resolve false; focus starts on "Cancel" so that Enter alone does
 * not destroy anything, and returns where it was.
 */
export function confirmDialog(options: { title: string; text: string; confirm: string; danger?: boolean }): Promise<boolean> {
  return new Promise((resolve) => {
    const back = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
    const cancel = h('button', { attrs: { type: 'button' }, on: { click: () => finish(false) } }, 'Cancel');
    const dialog = h(
      'dialog',
      { class: 'name-dialog confirm-dialog', attrs: { 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text' } },
      h('h2', { attrs: { id: 'confirm-title' } }, options.title),
      h('p', { class: 'muted', attrs: { id: 'confirm-text' } }, options.text),
      h(
        'div',
        'dialog-actions',
        cancel,
        h('button', { class: options.danger ? 'primary danger' : 'primary', attrs: { type: 'button' }, on: { click: () => finish(true) } }, options.confirm),
      ),
    );
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      finish(false);
    });
    // A dialog closed without 'cancel' (Chromium's second Escape with no click or key between)
    // is a "no", not a question left unanswered.
    dialog.addEventListener('close', () => finish(false));
    let done = false;
    function finish(yes: boolean): void {
      if (done) return;
      done = true;
      dialog.close();
      dialog.remove();
      if (back?.isConnected) back.focus();
      resolve(yes);
    }
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
