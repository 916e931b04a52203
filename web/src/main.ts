import { DEFAULT_ROOM, ROOM_NAME_PATTERN } from '../../src/protocol/constants.js';
import { ChatView } from './chat-view.js';
import { CompareView } from './compare-view.js';
import { h, icon, replaceChildren } from './dom.js';
import { askName } from './name-dialog.js';
import { parseRoute, routeHref, type Route } from './router.js';
import { storage } from './storage.js';

/**
 * Starts the app: asks for a name on the first visit, then shows the view the address names
 * (#/ chat, #/room/<name> a room, #/compare). Views are mounted one at a time; the chat keeps its
 * connection while Compare is shown.
 */
async function main(): Promise<void> {
  const root = document.getElementById('app')!;
  root.replaceChildren();
  let name = storage.name;
  // The first-visit dialog cannot be dismissed: it resolves with a name.
  while (!name) name = await askName({ firstVisit: true });
  storage.name = name;
  const member = storage.member;

  const nameButton = h('button', { class: 'user', attrs: { type: 'button', 'aria-label': `Change your name (now ${name})`, title: 'Change your name' } }, h('span', 'user-name'), icon('edit'));
  const setNameLabel = (n: string): void => {
    replaceChildren(nameButton.querySelector('.user-name')!, n);
    nameButton.setAttribute('aria-label', `Change your name (now ${n})`);
  };
  setNameLabel(name);

  const tabs = {
    chat: h('button', { class: 'tab', attrs: { type: 'button' }, on: { click: () => go({ view: 'chat', room: storage.room ?? DEFAULT_ROOM }) } }, 'Chat'),
    compare: h('button', { class: 'tab', attrs: { type: 'button' }, on: { click: () => go({ view: 'compare' }) } }, 'Compare'),
  };
  const header = h(
    'header',
    'app-header',
    h('a', { class: 'brand', attrs: { href: '#/' } }, h('span', { class: 'logo', attrs: { 'aria-hidden': 'true' } }), 'Switchboard'),
    h('nav', { attrs: { 'aria-label': 'Views' } }, tabs.chat, tabs.compare),
    nameButton,
  );
  const outlet = h('div', 'outlet');
  const skip = h('a', { class: 'skip-link', attrs: { href: '#/' }, on: { click: (e) => { e.preventDefault(); outlet.querySelector('textarea')?.focus(); } } }, 'Skip to the message box');
  replaceChildren(root, skip, header, outlet);

  const chat = new ChatView({ name, member, navigate: (room) => go({ view: 'chat', room }) });
  const compare = new CompareView({ name, member });

  nameButton.addEventListener('click', () => {
    void askName({ current: storage.name ?? '', firstVisit: false }).then(async (next) => {
      if (!next || next === storage.name) return;
      storage.name = next;
      setNameLabel(next);
      await chat.rename(next);
    });
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
    tabs[route.view].setAttribute('aria-current', 'page');
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
    const room = route.room && ROOM_NAME_PATTERN.test(route.room) ? route.room : (storage.room ?? DEFAULT_ROOM);
    await chat.open(room);
  }

  window.addEventListener('hashchange', () => void show(parseRoute(location.hash)));
  await show(parseRoute(location.hash));
}

void main();
