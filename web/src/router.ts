/** The views the address can name: `#/` (chat), `#/room/<name>` (chat in a room), `#/compare`, `#/admin`. */
export type Route = { view: 'chat'; room?: string } | { view: 'compare' } | { view: 'admin' };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  if (path === 'compare') return { view: 'compare' };
  if (path === 'admin') return { view: 'admin' };
  const room = /^room\/(.+)$/.exec(path)?.[1];
  if (room) {
    try {
      return { view: 'chat', room: decodeURIComponent(room) };
    } catch {
      return { view: 'chat' };
    }
  }
  return { view: 'chat' };
}

export function routeHref(route: Route): string {
  if (route.view === 'compare') return '#/compare';
  if (route.view === 'admin') return '#/admin';
  return route.room ? `#/room/${encodeURIComponent(route.room)}` : '#/';
}
