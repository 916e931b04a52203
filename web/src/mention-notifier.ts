import type { MessageEntry } from 'switchboard-client';
import { h, icon, replaceChildren } from './dom.js';
import { mentionTest } from '../../src/protocol/message-code.js';
import { plainText } from './message-format.js';
import { storage } from './storage.js';

/** Characters of a message shown in its notification; the rest is cut with an ellipsis. */
const PREVIEW_CHARS = 140;

export interface MentionNotifierOptions {
  /** A notification was clicked: show `room` (and message `seq` in it, when known). */
  open(room: string, seq?: number): void;
  /** Something to tell the user (permission refused, notifications not available). */
  say(text: string): void;
}

/**
 * Desktop notifications of mentions, as chat apps give them: off until the user turns them on
 * with the bell (which asks the browser's permission then, from that click), and only while the
 * page is not looked at (another tab, another window): someone who reads the room sees the
 * mention already. A message of the room shown that names the user (`@name` or `@member`,
 * outside code: the server's rule for its counts, src/protocol/message-code.ts) notifies with its
 * sender and text; a mention count that grows in another room
 * (the room list's refresh, the server's count) notifies with the room. One notification per
 * room at a time (a newer one replaces it); a click shows the room, and the message. Browsers
 * that only notify from a service worker (Chrome on Android) show none: the bell says so.
 */
export class MentionNotifier {
  readonly button: HTMLButtonElement;

  constructor(private readonly options: MentionNotifierOptions) {
    this.button = h('button', { class: 'icon-only notify-toggle', attrs: { type: 'button' }, on: { click: () => void this.toggle() } });
    this.render();
    // Permission may change in the browser's settings meanwhile: the bell says what holds now.
    window.addEventListener('focus', () => this.render());
  }

  /** Asked for, and allowed by the browser. */
  get on(): boolean {
    return storage.notifyMentions && permission() === 'granted';
  }

  /** A new message of `room`, shown in the page: a notification when it mentions the user (`name` or `member`, as the server counts mentions) and the page is not looked at. */
  message(room: string, entry: MessageEntry, name: string, member: string): void {
    if (!this.on || lookedAt() || entry.deleted || !mentionTest(name, member)(entry.text)) return;
    const text = plainText(entry.text);
    this.show(room, `${entry.from.name} in #${room}`, [...text].length > PREVIEW_CHARS ? `${[...text].slice(0, PREVIEW_CHARS - 1).join('')}…` : text, entry.seq);
  }

  /** `added` more mentions of the user in `room` (not the one shown), by the server's count. */
  mentioned(room: string, added: number): void {
    if (!this.on || lookedAt() || added <= 0) return;
    this.show(room, `#${room}`, `${added} new mention${added === 1 ? '' : 's'} of you`);
  }

  private show(room: string, title: string, body: string, seq?: number): void {
    let note: Notification;
    try {
      note = new Notification(title, { body, tag: `switchboard:${room}` });
    } catch {
      // Only a service worker may notify here (Chrome on Android): nothing to show.
      return;
    }
    note.onclick = () => {
      window.focus();
      note.close();
      this.options.open(room, seq);
    };
  }

  private async toggle(): Promise<void> {
    if (storage.notifyMentions) {
      storage.notifyMentions = false;
      this.render();
      this.options.say('Notifications of mentions are off.');
      return;
    }
    let allowed = permission();
    if (allowed === 'unsupported') {
      this.options.say('This browser cannot show notifications.');
      return;
    }
    if (allowed === 'default') allowed = await Notification.requestPermission();
    if (allowed !== 'granted') {
      this.render();
      this.options.say('Notifications are blocked for this site: allow them in the browser’s site settings, then turn them on here.');
      return;
    }
    storage.notifyMentions = true;
    this.render();
    this.options.say('You will be notified when someone mentions you while this page is in the background.');
  }

  private render(): void {
    const on = this.on;
    const blocked = storage.notifyMentions && permission() === 'denied';
    const label = on ? 'Notifications of mentions: on' : blocked ? 'Notifications of mentions: blocked by the browser' : 'Notifications of mentions: off';
    this.button.setAttribute('aria-label', 'Notify me of mentions');
    this.button.setAttribute('aria-pressed', String(on));
    this.button.title = label;
    replaceChildren(this.button, icon(on ? 'bell' : 'bell-off'));
  }
}

/** The page is visible and has the focus: its reader sees what arrives. */
function lookedAt(): boolean {
  return document.visibilityState === 'visible' && document.hasFocus();
}

function permission(): NotificationPermission | 'unsupported' {
  return typeof Notification === 'function' ? Notification.permission : 'unsupported';
}
