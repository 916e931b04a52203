/**
 * The keys of formatting in a message box, as chat apps have them: Ctrl+B (⌘B) bold, Ctrl+I
 * (⌘I) italic, Ctrl+Shift+X (⌘⇧X) strikethrough. The markers go around the selection (or
 * around the caret, which lands between them), or come off when they are already there; the
 * change is one step of the box's undo (insertText).
 */
export function formatKey(e: KeyboardEvent, box: HTMLTextAreaElement): boolean {
  if (!(e.ctrlKey || e.metaKey) || e.altKey || e.isComposing) return false;
  const key = e.key.toLowerCase();
  const marker = key === 'b' && !e.shiftKey ? '**' : key === 'i' && !e.shiftKey ? '_' : key === 'x' && e.shiftKey ? '~~' : undefined;
  if (marker === undefined) return false;
  e.preventDefault();
  toggleMarker(box, marker);
  return true;
}

/** Puts `marker` around the selection of `box`, or takes it off when it is there already. */
export function toggleMarker(box: HTMLTextAreaElement, marker: string): void {
  const { selectionStart: start, selectionEnd: end, value } = box;
  const n = marker.length;
  const wrapped = start >= n && value.slice(start - n, start) === marker && value.slice(end, end + n) === marker;
  if (wrapped) {
    box.setSelectionRange(start - n, end + n);
    replaceSelection(box, value.slice(start, end));
    box.setSelectionRange(start - n, end - n);
  } else {
    replaceSelection(box, `${marker}${value.slice(start, end)}${marker}`);
    box.setSelectionRange(start + n, end + n);
  }
}

/** Replaces the selection as typing would: one step of undo where the browser allows it. */
function replaceSelection(box: HTMLTextAreaElement, text: string): void {
  box.focus();
  // Deprecated, and still the only way to keep the box's undo history (Chromium, Firefox, Safari).
  if (!document.execCommand('insertText', false, text)) {
    box.setRangeText(text, box.selectionStart, box.selectionEnd, 'end');
    box.dispatchEvent(new Event('input', { bubbles: true }));
  }
}
