/**
 * A small typed event emitter. Handlers run synchronously in the order they were added.
 * A handler that throws does not stop the others nor the client: its error is reported the
 * way a DOM event listener's is (`reportError` in browsers, an uncaught exception in Node).
 */
export class Emitter<Events extends object> {
  private readonly handlers = new Map<keyof Events, Set<(value: never) => void>>();

  /** Adds a handler; returns the function that removes it. */
  on<K extends keyof Events>(event: K, handler: (value: Events[K]) => void): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler as (value: never) => void);
    return () => void set.delete(handler as (value: never) => void);
  }

  /** True when someone listens to `event` (to skip building values no one reads). */
  has(event: keyof Events): boolean {
    return (this.handlers.get(event)?.size ?? 0) > 0;
  }

  emit<K extends keyof Events>(event: K, value: Events[K]): void {
    const set = this.handlers.get(event);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        (handler as (value: Events[K]) => void)(value);
      } catch (err) {
        report(err);
      }
    }
  }

  clear(): void {
    this.handlers.clear();
  }
}

function report(err: unknown): void {
  const g = globalThis as { reportError?: (e: unknown) => void };
  if (typeof g.reportError === 'function') g.reportError(err);
  else
    queueMicrotask(() => {
      throw err;
    });
}
