import { DEFAULT_ROOM, ROOM_NAME_PATTERN } from 'switchboard-client';
import type { SwitchboardError } from 'switchboard-client';
import { auth } from './auth.js';
import { AdminView } from './admin-view.js';
import { ChatView } from './chat-view.js';
import { CompareView } from './compare-view.js';
import { h, icon, replaceChildren } from './dom.js';
import { askName } from './name-dialog.js';
import { parseRoute, routeHref, type Route } from './router.js';
import { ROOM_NAME_RULE } from './rooms.js';
import { storage } from './storage.js';
import { askToken, type TokenDialogAction } from './token-dialog.js';

/**
 * Starts the app: asks the server whether it needs a token (GET /api/auth), then for a name on
 * the first visit (open server, or dev login) or a token (a server that needs one), then shows
 * the view the address names (#/ chat, #/room/<name> a room, #/compare). Views are mounted one at
 * a time; the chat keeps its connection while Compare is shown.
 */
async function main(): Promise<void> {
  const root = document.getElementById('app')!;
  const info = await auth.load();
  root.replaceChildren();
  if (info.auth === 'token') {
    await signIn();
  } else {
    let first = storage.name;
    // The first-visit dialog cannot be dismissed: it resolves with a name.
    while (!first) first = await askName({ firstVisit: true });
    storage.name = first;
  }
  const start = auth.identity();
  const { name, member } = start;

  const nameButton = h('button', { class: 'user', attrs: { type: 'button' } }, h('span', 'user-name'), h('span', 'user-icon'));
  /** What the header says of the user: their name to change (open server, dev login) or the token's. */
  const renderUser = (): void => {
    const id = auth.identity();
    const renames = id.kind === 'open' || auth.viaDevLogin;
    replaceChildren(nameButton.querySelector('.user-name')!, id.name);
    replaceChildren(nameButton.querySelector('.user-icon')!, icon(renames ? 'edit' : 'key'));
    nameButton.dataset.kind = id.kind;
    if (renames) {
      nameButton.setAttribute('aria-label', `Change your name (now ${id.name})`);
      nameButton.title = 'Change your name';
    } else if (id.kind === 'user') {
      nameButton.setAttribute('aria-label', `Signed in with a token as ${id.name}: use another token`);
      nameButton.title = 'Your name comes from your token: click to use another token';
    } else {
      nameButton.setAttribute('aria-label', 'Guest: give a token to sign in');
      nameButton.title = 'You are a guest: give a token to sign in';
    }
  };
  renderUser();

  const tabs = {
    chat: h('button', { class: 'tab', attrs: { type: 'button' }, on: { click: () => go({ view: 'chat', room: storage.room ?? DEFAULT_ROOM }) } }, 'Chat'),
    compare: h('button', { class: 'tab', attrs: { type: 'button' }, on: { click: () => go({ view: 'compare' }) } }, 'Compare'),
    admin: h('button', { class: 'tab', attrs: { type: 'button' }, on: { click: () => go({ view: 'admin' }) } }, 'Admin'),
  };
  const header = h(
    'header',
    'app-header',
    h('a', { class: 'brand', attrs: { href: '#/' } }, h('span', { class: 'logo', attrs: { 'aria-hidden': 'true' } }), 'Switchboard'),
    h('nav', { attrs: { 'aria-label': 'Views' } }, tabs.chat, tabs.compare, tabs.admin),
    nameButton,
  );
  const outlet = h('div', 'outlet');
  const skip = h('a', { class: 'skip-link', attrs: { href: '#/' }, on: { click: (e) => { e.preventDefault(); outlet.querySelector('textarea')?.focus(); } } }, 'Skip to the message box');
  replaceChildren(root, skip, header, outlet);

  const chat = new ChatView({ name, member, navigate: (room) => go({ view: 'chat', room }), reauth: (problem) => void reauth(problem) });
  header.append(chat.notifyButton);
  const compare = new CompareView({ name, member });
  const admin = new AdminView();

  // New credentials (a token given or renewed, a dev login under another name, guest): every view follows.
  auth.onChange(() => {
    const id = auth.identity();
    renderUser();
    void chat.credentialsChanged(id);
    void compare.credentialsChanged({ name: id.name, member: id.member });
  });

  nameButton.addEventListener('click', () => {
    const id = auth.identity();
    if (id.kind === 'open') {
      void askName({ current: storage.name ?? '', firstVisit: false }).then(async (next) => {
        if (!next || next === storage.name) return;
        storage.name = next;
        renderUser();
        await chat.rename(next);
      });
    } else if (auth.viaDevLogin) {
      // With a token the server names you from it: a new name is a new dev login (a new member).
      void askName({ current: id.name, firstVisit: false }).then(async (next) => {
        if (!next || next === id.name) return;
        await auth.devLogin(next).catch((err: unknown) => chat.notice(`Could not log in as ${next}: ${err instanceof Error ? err.message : String(err)}`));
      });
    } else {
      void askCredentials({
        dismissable: true,
        title: id.kind === 'user' ? 'Use another token' : undefined,
        message: id.kind === 'user' ? `You are signed in as ${id.name}. Your name comes from your token: paste another token to sign in as someone else.` : undefined,
      });
    }
  });

  let shown: Route['view'] | undefined;
  function go(route: Route): void {
    const href = routeHref(route);
    if (location.hash !== href) location.hash = href;
    else void show(route);
  }

  async function show(route: Route): Promise<void> {
    tabs.chat.toggleAttribute('aria-current', false);
    tabs.compare.toggleAttribute('aria-current', false);
    tabs.admin.toggleAttribute('aria-current', false);
    tabs[route.view].setAttribute('aria-current', 'page');
    if (route.view !== 'admin' && shown === 'admin') admin.stop();
    if (route.view === 'admin') {
      if (shown !== 'admin') {
        if (shown === 'compare') void compare.stop();
        chat.setVisible(false);
        replaceChildren(outlet, admin.element);
        document.title = 'Administration · Switchboard';
        shown = 'admin';
        await admin.start();
      }
      return;
    }
    if (route.view === 'compare') {
      if (shown !== 'compare') {
        chat.setVisible(false);
        replaceChildren(outlet, compare.element);
        document.title = 'Compare transports · Switchboard';
        shown = 'compare';
        await compare.start(storage.room ?? DEFAULT_ROOM);
      }
      return;
    }
    if (shown === 'compare') void compare.stop();
    if (shown !== 'chat') {
      replaceChildren(outlet, chat.element);
      shown = 'chat';
      chat.setVisible(true);
    }
    const bad = route.room !== undefined && !ROOM_NAME_PATTERN.test(route.room) ? route.room : undefined;
    const room = route.room && !bad ? route.room : (storage.room ?? DEFAULT_ROOM);
    // The address names the room shown, and a link to no possible room says so (else the
    // last room opened, with the bad name still in the address bar and nothing said).
    if (bad !== undefined) history.replaceState(null, '', routeHref({ view: 'chat', room }));
    await chat.open(room);
    if (bad === undefined && route.seq !== undefined) chat.showLinked(route.seq);
    if (bad !== undefined) chat.notice(`There can be no room “${bad}”: ${ROOM_NAME_RULE} Here is #${room}.`);
  }

  window.addEventListener('hashchange', () => void show(parseRoute(location.hash)));
  await show(parseRoute(location.hash));
}

/** On a server that needs a token: the stored one, else dev login, else the token dialog. */
async function signIn(): Promise<void> {
  const restored = auth.restore();
  if (restored === 'ok') return;
  if (auth.info.devLogin) {
    let name = storage.name;
    while (!name) name = await askName({ firstVisit: true });
    storage.name = name;
    try {
      await auth.devLogin(name);
      return;
    } catch (err) {
      await askCredentials({ dismissable: false, error: `Could not log in as ${name}: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
  }
  await askCredentials({ dismissable: false, ...(restored === 'expired' ? { error: 'Your token has expired. Paste a new one.' } : {}) });
}

/** The token dialog, with the other ways in this server allows (dev login, guest). */
function askCredentials(options: { dismissable: boolean; title?: string | undefined; message?: string | undefined; error?: string | undefined }): Promise<boolean> {
  const { info } = auth;
  const actions: TokenDialogAction[] = [];
  const devName = storage.name;
  if (info.devLogin && devName) actions.push({ label: `Log in as ${devName}`, run: () => auth.devLogin(devName) });
  if (info.guests !== 'none') actions.push({ label: 'Continue as guest', run: async () => auth.useGuest() });
  const rooms = info.guestRooms.map((r) => `#${r}`).join(', ');
  const guestLine = info.guests === 'none' ? '' : ` Without one you may ${info.guests === 'write' ? 'read and write' : 'read'} in ${rooms || 'the guest rooms'} as a guest.`;
  return askToken({
    dismissable: options.dismissable,
    title: options.title,
    message: options.message ?? `Paste the access token you were given to chat here.${guestLine}`,
    error: options.error,
    actions,
    submit: async (token) => {
      await auth.check(token);
      auth.useToken(token);
    },
  });
}

let reauthing: Promise<void> | undefined;

/**
 * The server refused the credentials (or a guest wants in): dev login again when it is on, else
 * the token dialog. One at a time.
 */
function reauth(problem: SwitchboardError | undefined): Promise<void> {
  reauthing ??= (async () => {
    // The server may have turned authentication on since the page loaded.
    if (!auth.required) await auth.load();
    if (!auth.required) return;
    let error: string | undefined;
    if (problem?.code === 'TOKEN_EXPIRED') error = 'Your token has expired.';
    else if (problem?.code === 'UNAUTHORIZED' && auth.token) error = 'The server did not accept your token.';
    else if (problem?.code === 'FORBIDDEN') error = 'Your token does not give the right to be there.';
    if (auth.canDevLogin && !auth.isGuest && problem?.code !== 'FORBIDDEN') {
      try {
        await auth.devLogin(storage.name ?? auth.identity().name);
        return;
      } catch (err) {
        error = `Could not log in again: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    await askCredentials({ dismissable: true, error });
  })().finally(() => (reauthing = undefined));
  return reauthing;
}

void main();
