/**
 * The views the address can name: `#/` (chat), `#/room/<name>` (chat in a room),
 * `#/room/<name>/<seq>` (a link to a message: the room, showing that message), `#/compare`,
 * `#/admin`.
 */
export type Route = { view: 'chat'; room?: string; seq?: number } | { view: 'compare' } | { view: 'admin' };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  if (path === 'compare') return { view: 'compare' };
  if (path === 'admin') return { view: 'admin' };
  const linked = /^room\/(.+)\/([1-9]\d{0,14})$/.exec(path);
  const room = linked?.[1] ?? /^room\/(.+)$/.exec(path)?.[1];
  if (room) {
    try {
      return { view: 'chat', room: decodeURIComponent(room), ...(linked?.[2] !== undefined ? { seq: Number(linked[2]) } : {}) };
    } catch {
      return { view: 'chat' };
    }
  }
  return { view: 'chat' };
}

export function routeHref(route: Route): string {
  if (route.view === 'compare') return '#/compare';
  if (route.view === 'admin') return '#/admin';
  if (!route.room) return '#/';
  return `#/room/${encodeURIComponent(route.room)}${route.seq !== undefined ? `/${route.seq}` : ''}`;
}
