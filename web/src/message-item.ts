import type { MessageEntry, ReactionSummary, ReplyPreview } from 'switchboard-client';
import { h } from './dom.js';
import { TRANSPORT_SHORT, formatFull, formatTime, hueOf, initialOf, nameColourStyle } from './format.js';
import { messageBody } from './message-body.js';
import { plainText } from './message-format.js';

/** What a message line needs from the list that shows it. */
export interface MessageItemContext {
  /** This user's member id: their messages are set apart, their reactions pressed. */
  me: string;
  /** Names a mention of this user may use (display name, member id). */
  mentionNames(): readonly string[];
  /** The user may edit and delete this message (its author, or a room admin). */
  mayAmend(message: MessageEntry): boolean;
  /** The user may reply and react (write right in the room, as far as the app can tell). */
  mayWrite(): boolean;
  onReply(message: MessageEntry): void;
  /** Opens the reaction picker of the message (anchored to the button pressed). */
  onPickReaction(message: MessageEntry, button: HTMLButtonElement): void;
  onToggleReaction(message: MessageEntry, emoji: string, on: boolean): void;
  onEdit(message: MessageEntry): void;
  onDelete(message: MessageEntry): void;
  /** The quote of a reply was clicked: show the message quoted. */
  onJump(seq: number): void;
  /** The address of a link to message `seq` (what "Copy link" copies). */
  linkTo(seq: number): string;
}

/** Names shown in a reaction chip's description before "and N others". */
const NAMES_IN_CHIP = 10;

/**
 * One message as a list item: avatar, sender and time, the quote it answers, its text (or the
 * tombstone of a deleted message), "(edited)", its reactions, and the actions on it (shown on
 * hover and focus, always reachable by keyboard). Text is set as text nodes only.
 */
export function renderMessage(message: MessageEntry, ctx: MessageItemContext): HTMLLIElement {
  const sender = message.from.member ?? `name:${message.from.name}`;
  const own = message.from.member === ctx.me;
  const time = h('time', { attrs: { datetime: new Date(message.ts).toISOString(), title: formatFull(message.ts) } }, formatTime(message.ts));
  const via = message.from.transport ? TRANSPORT_SHORT[message.from.transport] : undefined;
  const deleted = message.deleted === true;
  const classes = ['msg', own ? 'own' : '', deleted ? 'deleted' : ''].filter(Boolean).join(' ');
  // tabindex -1: a tap focuses the message, which shows its actions on touch screens (focus-within).
  const attrs = { 'data-seq': message.seq, 'data-ts': message.ts, 'data-sender': sender, 'data-via': message.from.transport, 'data-reply-to': message.replyTo, tabindex: -1 };
  const body = deleted
    ? h('p', 'text tombstone', 'Message deleted')
    : messageBody(message, 'p', 'text', ctx.mentionNames());
  return h(
    'li',
    { class: classes, attrs },
    own ? null : h('div', { class: 'avatar', attrs: { 'aria-hidden': 'true', style: `--hue:${hueOf(sender)}` } }, initialOf(message.from.name)),
    h(
      'div',
      'msg-body',
      h(
        'div',
        'bubble',
        h(
          'div',
          'meta',
          own ? h('span', 'visually-hidden', 'You') : h('span', { class: 'sender', attrs: { style: nameColourStyle(sender) } }, message.from.name),
          via ? h('span', { class: 'via', attrs: { title: `Sent over ${via}` } }, via) : null,
          time,
        ),
        !deleted && message.reply ? renderQuote(message.reply, ctx) : null,
        body,
        !deleted && message.edited
          ? h('span', { class: 'edited', attrs: { title: `Edited ${formatFull(message.edited.ts)}` } }, '(edited)')
          : null,
      ),
      !deleted && message.reactions?.length ? renderReactions(message, message.reactions, ctx) : null,
    ),
    deleted ? null : renderActions(message, ctx),
  );
}

/** The quote of a reply: who and what (as it was then); a button that shows the original. */
function renderQuote(reply: ReplyPreview, ctx: MessageItemContext): HTMLElement {
  const text = reply.deleted ? 'Original message deleted' : plainText(reply.text);
  return h(
    'button',
    {
      class: `quote${reply.deleted ? ' quote-deleted' : ''}`,
      attrs: { type: 'button', 'data-quote-seq': reply.seq, title: 'Show the message answered' },
      on: { click: () => ctx.onJump(reply.seq) },
    },
    h('span', 'quote-name', reply.from.name),
    h('span', { class: 'quote-text', attrs: { dir: 'auto' } }, text),
  );
}

/** One chip per emoji: the count, pressed when this user reacted; a click toggles it. */
function renderReactions(message: MessageEntry, reactions: ReactionSummary[], ctx: MessageItemContext): HTMLElement {
  const canWrite = ctx.mayWrite();
  return h(
    'div',
    { class: 'reactions', attrs: { role: 'group', 'aria-label': 'Reactions' } },
    ...reactions.map((r) => {
      const mine = r.by.some((b) => b.member === ctx.me);
      const names = r.by.slice(0, NAMES_IN_CHIP).map((b) => (b.member === ctx.me ? 'you' : b.name));
      const others = r.count - names.length;
      const who = `${names.join(', ')}${others > 0 ? ` and ${others} other${others === 1 ? '' : 's'}` : ''}`;
      return h(
        'button',
        {
          class: 'reaction-chip',
          attrs: { type: 'button', 'aria-pressed': String(mine), 'data-emoji': r.emoji, 'data-focus-key': `chip:${r.emoji}`, title: `${r.emoji} ${r.count}: ${who}`, disabled: !canWrite },
          on: { click: () => ctx.onToggleReaction(message, r.emoji, !mine) },
        },
        h('span', 'reaction-emoji', r.emoji),
        ' ',
        h('span', 'reaction-count', String(r.count)),
      );
    }),
  );
}

/** Reply, React, and (for the author or an admin) Edit and Delete. */
function renderActions(message: MessageEntry, ctx: MessageItemContext): HTMLElement {
  const canWrite = ctx.mayWrite();
  const amend = ctx.mayAmend(message);
  const button = (label: string, key: string, onClick: (b: HTMLButtonElement) => void): HTMLButtonElement => {
    const b: HTMLButtonElement = h('button', { class: 'msg-action', attrs: { type: 'button', 'data-focus-key': `action:${key}`, 'aria-live': key === 'link' ? 'polite' : undefined }, on: { click: () => onClick(b) } }, label);
    return b;
  };
  return h(
    'div',
    { class: 'msg-actions', attrs: { role: 'group', 'aria-label': `Actions on the message from ${message.from.name}` } },
    canWrite ? button('Reply', 'reply', () => ctx.onReply(message)) : null,
    canWrite ? button('React', 'react', (b) => ctx.onPickReaction(message, b)) : null,
    amend && message.text !== '' ? button('Edit', 'edit', () => ctx.onEdit(message)) : null,
    amend ? button('Delete', 'delete', () => ctx.onDelete(message)) : null,
    button(COPY_LINK, 'link', (b) => void copyLink(b, ctx.linkTo(message.seq))),
  );
}

const COPY_LINK = 'Copy link';
/** How long "Link copied" stays on the button. */
const COPIED_MS = 2000;

/**
 * Copies `href` and says so on the button (a live region: a screen reader hears it too). The
 * Clipboard API needs a secure context (https, localhost); a server on plain http elsewhere gets
 * the older copy command instead, which the click allows.
 */
async function copyLink(button: HTMLButtonElement, href: string): Promise<void> {
  let copied = false;
  try {
    await navigator.clipboard.writeText(href);
    copied = true;
  } catch {
    const field = h('textarea', { class: 'visually-hidden', attrs: { readonly: true } });
    field.value = href;
    document.body.append(field);
    field.select();
    copied = document.execCommand('copy');
    field.remove();
  }
  button.textContent = copied ? 'Link copied' : 'Could not copy';
  window.setTimeout(() => {
    button.textContent = COPY_LINK;
  }, COPIED_MS);
}
