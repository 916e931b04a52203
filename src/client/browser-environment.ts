/** What the page tells a client about its surroundings. */
export interface EnvironmentHandlers {
  /** The network is back. */
  online(): void;
  /** The network is gone. */
  offline(): void;
  /** The tab is shown again: its timers may have been throttled meanwhile. */
  visible(): void;
  /** The page is going away (closed, navigated from, or put in the back-forward cache). */
  pageHidden(): void;
}

/**
 * Listens to the browser's `online` / `offline` / `pagehide` events and to `visibilitychange`; returns the
 * function that stops listening. Outside a browser (Node) it does nothing.
 */
export function watchBrowserEnvironment(handlers: EnvironmentHandlers): () => void {
  const g = globalThis as { addEventListener?: typeof addEventListener; removeEventListener?: typeof removeEventListener; document?: Document };
  const doc = g.document;
  if (typeof g.addEventListener !== 'function' || typeof g.removeEventListener !== 'function' || doc === undefined) return () => undefined;
  const online = (): void => handlers.online();
  const offline = (): void => handlers.offline();
  const visible = (): void => {
    if (doc.visibilityState === 'visible') handlers.visible();
  };
  const pageHidden = (): void => handlers.pageHidden();
  g.addEventListener('online', online);
  g.addEventListener('offline', offline);
  g.addEventListener('pagehide', pageHidden);
  doc.addEventListener('visibilitychange', visible);
  return () => {
    g.removeEventListener?.('online', online);
    g.removeEventListener?.('offline', offline);
    g.removeEventListener?.('pagehide', pageHidden);
    doc.removeEventListener('visibilitychange', visible);
  };
}

/** True only when a browser says there is no network (Node has no such notion). */
export function isOffline(): boolean {
  return typeof navigator !== 'undefined' && (navigator as { onLine?: boolean }).onLine === false;
}
