import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TransportName } from '../protocol/types.js';

/** Transports that hold live subscribers (short polling reads the store and is never delivered to). */
export const LIVE_TRANSPORTS = ['websocket', 'sse', 'long-polling'] as const satisfies readonly TransportName[];

/**
 * Prometheus metrics of one server, on a registry of its own (several servers can live in one
 * process, as in the tests). Hot paths count per batch, never per recipient. Every metric is
 * documented in docs/operations.md (test/metrics.test.ts keeps the two in step); the webhook
 * dispatcher registers its own on the same registry.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly published = new Counter({ name: 'switchboard_entries_published_total', help: 'Entries stored, by type', labelNames: ['type'], registers: [this.registry] });
  readonly duplicates = new Counter({ name: 'switchboard_publish_duplicates_total', help: 'Publishes answered from the idempotency key', registers: [this.registry] });
  readonly deliveries = new Counter({
    name: 'switchboard_deliveries_total',
    help: 'Entries handed to live subscribers, by transport (entries of a batch times its recipients on that transport)',
    labelNames: ['transport'],
    registers: [this.registry],
  });
  readonly connections = new Gauge({ name: 'switchboard_connections', help: 'Open connections, by transport', labelNames: ['transport'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'switchboard_errors_total', help: 'Errors returned to clients, by code', labelNames: ['code'], registers: [this.registry] });
  readonly commands = new Counter({
    name: 'switchboard_commands_total',
    help: 'Commands of sessions (subscribe, publish, poll, ...), by transport and outcome (ok or an error code)',
    labelNames: ['command', 'transport', 'outcome'],
    registers: [this.registry],
  });
  readonly publishLatency = new Histogram({
    name: 'switchboard_publish_seconds',
    help: 'Time from receiving a publish to its acknowledgement',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  /** Read on each scrape from `countRooms` (see `countRoomsWith`): nothing on the hot path. */
  readonly rooms: Gauge;

  /** The deliveries counter of each live transport, bound once: a batch costs one lookup per transport. */
  private readonly deliveriesBy = new Map<TransportName, Counter.Internal>();
  private countRooms: (() => Promise<number>) | undefined;

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
    const self = this;
    this.rooms = new Gauge({
      name: 'switchboard_rooms',
      help: 'Rooms held by the store (every node of a cluster reports the same shared count)',
      registers: [this.registry],
      // Workers (--workers) report the one shared count: their aggregate is not a sum.
      aggregator: 'max',
      async collect() {
        if (!self.countRooms) return;
        try {
          this.set(await self.countRooms());
        } catch {
          // Store unreachable: the last value stays; /readyz and the errors say why.
        }
      },
    });
    // Every live transport's series exists from the start at 0, so rate() and dashboards see it.
    for (const transport of LIVE_TRANSPORTS) {
      this.deliveriesBy.set(transport, this.deliveries.labels({ transport }));
      this.connections.set({ transport }, 0);
    }
  }

  /** Where `switchboard_rooms` is read from at each scrape (the store's `countRooms`). */
  countRoomsWith(count: () => Promise<number>): void {
    this.countRooms = count;
  }

  /**
   * Counts one live batch: `entries` times the recipients of each transport. O(transports), not
   * O(recipients): the counts come from the room's subscriber set, kept as subscribers come and go.
   */
  delivered(entries: number, recipients: ReadonlyMap<TransportName, number>): void {
    for (const [transport, n] of recipients) {
      if (n === 0) continue;
      let counter = this.deliveriesBy.get(transport);
      if (!counter) this.deliveriesBy.set(transport, (counter = this.deliveries.labels({ transport })));
      counter.inc(entries * n);
    }
  }
}
