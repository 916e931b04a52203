import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics of one server, on a registry of its own (several servers can live in one
 * process, as in the tests). Hot paths count per batch, never per recipient.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly published = new Counter({ name: 'switchboard_entries_published_total', help: 'Entries stored, by type', labelNames: ['type'], registers: [this.registry] });
  readonly duplicates = new Counter({ name: 'switchboard_publish_duplicates_total', help: 'Publishes answered from the idempotency key', registers: [this.registry] });
  readonly deliveries = new Counter({ name: 'switchboard_deliveries_total', help: 'Entries handed to live subscribers', registers: [this.registry] });
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

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }
}
