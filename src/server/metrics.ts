import { readdir } from 'node:fs/promises';
import { PerformanceObserver, constants as perfConstants, type PerformanceEntry } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TransportName } from '../protocol/types.js';
import type { PeerTraffic } from './session/limits.js';

/** Transports that hold live subscribers (short polling reads the store and is never delivered to). */
export const LIVE_TRANSPORTS = ['websocket', 'sse', 'long-polling'] as const satisfies readonly TransportName[];

/**
 * One series of a counter or gauge kept in a plain number where it changes (every request), and
 * handed to prom-client when it is read (a scrape): prom-client hashes the labels of every `inc`,
 * even through `labels()`, which costs more than the rest of a command's bookkeeping.
 */
export interface Cell {
  value: number;
}

/**
 * prom-client's default metrics whose collection walks every handle or descriptor of the process
 * on the main thread at each scrape: the handles twice (an array of one object or string per
 * socket, once for the total, once by type), /proc/self/fd with `readdirSync`. At 15,000
 * connections a scrape held the event loop up to 64-67 ms (docs/operations.md). Left out: the
 * connections are counted by `switchboard_connections`; `process_open_fds` is made again below.
 */
const WALKS_EVERY_HANDLE = new Set(['nodejs_active_handles', 'nodejs_active_handles_total', 'nodejs_active_resources', 'nodejs_active_resources_total', 'process_open_fds']);

/**
 * prom-client's `nodejs_gc_duration_seconds` (15.1) records only the first collection of each
 * list its PerformanceObserver is handed (`list.getEntries()[0]`). Node hands the observer its
 * entries once the main thread is free again, so the collections of one long task come as one
 * list: under load, the busier the process, the more pauses go unrecorded. Measured: 10,000 long
 * pollers answered at once, 0.04-0.08 s of pauses per broadcast by the metric against 0.31-0.39 s
 * by `--trace-gc`. Made again here with every entry recorded; same name, help, label and buckets.
 */
const GC_DURATION = 'nodejs_gc_duration_seconds';

const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/**
 * The histograms of the registries made in this process (one per server; tests make many), fed
 * by one observer. Held weakly: a server has no end for its registry, so one no longer reachable
 * leaves the set when the collector took it.
 */
const gcHistograms = new Set<WeakRef<Histogram<'kind'>>>();
let gcObserver: PerformanceObserver | undefined;

function observeGc(histogram: Histogram<'kind'>): void {
  gcHistograms.add(new WeakRef(histogram));
  if (gcObserver) return;
  gcObserver = new PerformanceObserver((list) => {
    const entries = list.getEntries();
    for (const ref of gcHistograms) {
      const h = ref.deref();
      if (h === undefined) {
        gcHistograms.delete(ref);
        continue;
      }
      for (const entry of entries) h.observe({ kind: gcKind(entry) }, entry.duration / 1000);
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
}

function gcKind(entry: PerformanceEntry): string {
  const detail = (entry as PerformanceEntry & { detail?: { kind?: number } | null }).detail;
  return GC_KINDS[detail?.kind ?? -1] ?? 'other';
}

/**
 * prom-client's default metrics (see its README) on `registry`, less WALKS_EVERY_HANDLE,
 * `process_open_fds` as prom-client defines it (Linux only) but read off the main thread: its
 * collector lists /proc/self/fd with `readdirSync`, one entry per socket, and
 * `nodejs_gc_duration_seconds` with every collection in it (see GC_DURATION).
 */
function registerDefaultMetrics(registry: Registry): void {
  const all = new Registry();
  collectDefaultMetrics({ register: all });
  for (const { name } of all.getMetricsAsArray()) {
    const metric = all.getSingleMetric(name);
    if (metric && !WALKS_EVERY_HANDLE.has(name) && name !== GC_DURATION) registry.registerMetric(metric);
  }
  observeGc(
    new Histogram({
      name: GC_DURATION,
      help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
      labelNames: ['kind'],
      buckets: [0.001, 0.01, 0.1, 1, 2, 5],
      registers: [registry],
    }),
  );
  if (process.platform !== 'linux') return;
  new Gauge({
    name: 'process_open_fds',
    help: 'Number of open file descriptors.',
    registers: [registry],
    async collect() {
      try {
        // Less the one the listing itself held open.
        this.set((await readdir('/proc/self/fd')).length - 1);
      } catch {
        // Unreadable: the last value stays.
      }
    },
  });
}

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
  readonly connections: Gauge<'transport'>;
  readonly errors = new Counter({ name: 'switchboard_errors_total', help: 'Errors returned to clients, by code', labelNames: ['code'], registers: [this.registry] });
  readonly accessLogSkipped = new Counter({
    name: 'switchboard_access_log_skipped_total',
    help: 'Access-log lines not written (HTTP requests, WebSocket opens): their client address had spent its --access-log-rate',
    registers: [this.registry],
  });
  readonly socketsRefused = new Counter({
    name: 'switchboard_sockets_refused_total',
    help: 'TCP connections closed at accept, unanswered: this process held --max-sockets open sockets',
    registers: [this.registry],
  });
  readonly commands: Counter<'command' | 'transport' | 'outcome'>;
  readonly publishLatency = new Histogram({
    name: 'switchboard_publish_seconds',
    help: 'Time from receiving a publish to its acknowledgement',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  /**
   * How long HTTP requests that waited for a turn of the event loop (RequestScheduler) waited
   * before they ran; requests run at once are not observed.
   */
  readonly requestWait = new Histogram({
    name: 'switchboard_request_wait_seconds',
    help: 'Time HTTP requests that could not run at once waited for a turn of the event loop (the per-turn budget, fair between addresses)',
    buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  /** Read on each scrape from `countRooms` (see `countRoomsWith`): nothing on the hot path. */
  readonly rooms: Gauge;

  /** The deliveries counter of each live transport, bound once: a batch costs one lookup per transport. */
  private readonly deliveriesBy = new Map<TransportName, Counter.Internal>();
  private countRooms: (() => Promise<number>) | undefined;
  /** Commands counted since the last read (see Cell), each with its labels. */
  private readonly commandCells: { labels: { command: string; transport: string; outcome: string }; cell: Cell }[] = [];
  /** The same cells by command, transport and outcome: a lookup per command without a key string made for it. */
  private readonly commandIndex = new Map<string, Map<string, Map<string, Cell>>>();
  /** Open connections by transport (see Cell). */
  private readonly connectionCells = new Map<string, Cell>();

  /** The collection in flight: the scrapes that come meanwhile share it (see scrape). */
  private scraping: Promise<string> | undefined;

  constructor(defaults = true) {
    if (defaults) registerDefaultMetrics(this.registry);
    const self = this;
    this.connections = new Gauge({
      name: 'switchboard_connections',
      help: 'Open connections, by transport',
      labelNames: ['transport'],
      registers: [this.registry],
      collect() {
        for (const [transport, cell] of self.connectionCells) this.set({ transport }, cell.value);
      },
    });
    this.commands = new Counter({
      name: 'switchboard_commands_total',
      help: 'Commands of sessions (subscribe, publish, poll, ...), by transport and outcome (ok or an error code)',
      labelNames: ['command', 'transport', 'outcome'],
      registers: [this.registry],
      collect() {
        for (const { labels, cell } of self.commandCells) {
          if (cell.value === 0) continue;
          this.inc(labels, cell.value);
          cell.value = 0;
        }
      },
    });
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
      this.connectionCells.set(transport, { value: 0 });
    }
  }

  /** The count of `command` on `transport` with `outcome` (ok or an error code): add to its `value`. */
  command(command: string, transport: string, outcome: string): Cell {
    let byTransport = this.commandIndex.get(command);
    if (!byTransport) this.commandIndex.set(command, (byTransport = new Map()));
    let byOutcome = byTransport.get(transport);
    if (!byOutcome) byTransport.set(transport, (byOutcome = new Map()));
    let cell = byOutcome.get(outcome);
    if (!cell) {
      byOutcome.set(outcome, (cell = { value: 0 }));
      this.commandCells.push({ labels: { command, transport, outcome }, cell });
    }
    return cell;
  }

  /** The number of open connections of `transport`: add to or take from its `value`. */
  openConnections(transport: string): Cell {
    let cell = this.connectionCells.get(transport);
    if (!cell) this.connectionCells.set(transport, (cell = { value: 0 }));
    return cell;
  }

  /**
   * The registry in Prometheus text format: one collection for every scrape that comes while it
   * runs, as the primary's gathers are shared with workers. `/metrics` is open on the main port
   * unless a token guards it, and a collection waits for the store (`switchboard_rooms`) and a
   * listing of /proc/self/fd: many scrapes at once cost one.
   */
  scrape(): Promise<string> {
    this.scraping ??= this.registry.metrics().finally(() => (this.scraping = undefined));
    return this.scraping;
  }

  /** Where `switchboard_rooms` is read from at each scrape (the store's `countRooms`). */
  countRoomsWith(count: () => Promise<number>): void {
    this.countRooms = count;
  }

  /** `switchboard_requests_waiting`: HTTP requests waiting for a turn now (RequestScheduler), read at each scrape. */
  requestsWaitingFrom(size: () => number): void {
    new Gauge({
      name: 'switchboard_requests_waiting',
      help: 'HTTP requests read and waiting for a turn of the event loop now (past the per-turn budget)',
      registers: [this.registry],
      collect() {
        this.set(size());
      },
    });
  }

  /** `switchboard_delivery_batches_paced_total`: rooms' batches held back while requests of several addresses stood waiting (DeliveryPace). */
  pacedBatchesFrom(paced: () => number): void {
    this.counterFrom(
      'switchboard_delivery_batches_paced_total',
      "Rooms' deliveries held back to gather later messages while HTTP requests of several clients stood waiting for 100 ms or more (--max-delivery-delay-ms)",
      paced,
    );
  }

  /**
   * `switchboard_heap_growing_percent`: how far V8 lets the old generation grow past its live
   * part now (HeapHeadroom: the start's `--heap-growing-percent`, raised while long polls are held).
   */
  heapGrowingFrom(percent: () => number): void {
    new Gauge({
      name: 'switchboard_heap_growing_percent',
      help: "How far V8 may grow the old generation past what survived its last major collection, in percent (--heap-growing-percent; raised while long polls are held)",
      registers: [this.registry],
      // Workers (--workers) each have their own: the highest is reported.
      aggregator: 'max',
      collect() {
        this.set(percent());
      },
    });
  }

  /** A counter whose total is kept elsewhere and read at each scrape (nothing counted on the hot path). */
  private counterFrom(name: string, help: string, total: () => number): void {
    let last = 0;
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        const now = total();
        if (now > last) this.inc(now - last);
        last = now;
      },
    });
  }

  /**
   * The SQLite store's group commits, read at each scrape (nothing counted on the hot path):
   * `switchboard_store_commits_total` (transactions, one sync each), `switchboard_store_appends_total`
   * (appends they held) and `switchboard_store_lock_busy_total` (batches that found the write
   * lock held by another process, `--workers`, and were tried again a moment later).
   */
  storeCommitsFrom(stats: () => { commits: number; items: number; busyRetries: number }): void {
    const counter = (name: string, help: string, key: 'commits' | 'items' | 'busyRetries'): void => this.counterFrom(name, help, () => stats()[key]);
    counter('switchboard_store_commits_total', 'SQLite transactions that stored appends (group commits: one sync each)', 'commits');
    counter('switchboard_store_appends_total', 'Appends held by those transactions (failed ones included)', 'items');
    counter('switchboard_store_lock_busy_total', 'Batches of appends that found the SQLite write lock held by another process (--workers) and were tried again a moment later', 'busyRetries');
  }

  /**
   * The traffic of shared budgets and caps (only where they are shared: `--workers`, Redis),
   * read from Limits at each scrape: spends and counts told to the peers and heard from them, and
   * spends the best-effort sharing over Redis did not tell.
   */
  sharedLimitsFrom(stats: () => PeerTraffic & { spendsDropped: number }): void {
    const counter = (name: string, help: string, keys: Partial<Record<'told' | 'heard', keyof PeerTraffic>> | 'spendsDropped'): void => {
      const last = new Map<string, number>();
      const grow = (c: Counter<string>, key: keyof PeerTraffic | 'spendsDropped', labels?: { direction: string }): void => {
        const now = stats()[key];
        const before = last.get(key) ?? 0;
        // Each direction's series from the first scrape on, at 0 (rate() and dashboards see it).
        if (labels) c.inc(labels, Math.max(0, now - before));
        else if (now > before) c.inc(now - before);
        last.set(key, now);
      };
      new Counter({
        name,
        help,
        labelNames: keys === 'spendsDropped' ? [] : ['direction'],
        registers: [this.registry],
        collect() {
          if (keys === 'spendsDropped') grow(this, keys);
          else for (const [direction, key] of Object.entries(keys)) grow(this, key, { direction });
        },
      });
    };
    counter('switchboard_shared_limit_spends_total', 'Budget spends told to the processes sharing the budgets (told), and entries of theirs charged here (heard)', { told: 'spendsTold', heard: 'spendsHeard' });
    counter('switchboard_shared_limit_counts_total', "Counts of a client's connections told to the processes sharing the caps (told), and heard from them (heard)", { told: 'countsTold', heard: 'countsHeard' });
    counter('switchboard_shared_limit_spends_dropped_total', 'Budget spends not told to the other nodes: Redis away, or more new keys in one message than it takes', 'spendsDropped');
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
