/** The views the address can name: `#/` (chat), `#/room/<name>` (chat in a room), `#/compare`. */
export type Route = { view: 'chat'; room?: string } | { view: 'compare' };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  if (path === 'compare') return { view: 'compare' };
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
  return route.room ? `#/room/${encodeURIComponent(route.room)}` : '#/';
}
