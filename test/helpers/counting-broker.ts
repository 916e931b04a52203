import type { Broker, BrokerMessage } from '../../src/server/broker/broker.js';

/**
 * A broker that hands everything to `inner` and records every message `inner` hands to this
 * node's hub: what a node receives, counted where the hub gets it.
 */
export class CountingBroker implements Broker {
  readonly kind: string;
  readonly received: BrokerMessage[] = [];

  constructor(private readonly inner: Broker) {
    this.kind = inner.kind;
  }

  /** The room each received message is about ('*' for a disconnect order). */
  get roomsReceived(): string[] {
    return this.received.map((m) => (m.kind === 'entry' ? m.entry.room : m.kind === 'typing' || m.kind === 'presence' ? m.notice.room : m.kind === 'room' ? m.room : '*'));
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  publish(message: BrokerMessage): Promise<void> {
    return this.inner.publish(message);
  }

  onMessage(handler: (message: BrokerMessage) => void): void {
    this.inner.onMessage((m) => {
      this.received.push(m);
      handler(m);
    });
  }

  onReconnect(handler: () => void): void {
    this.inner.onReconnect?.(handler);
  }

  async watch(room: string): Promise<void> {
    await this.inner.watch?.(room);
  }

  unwatch(room: string): void {
    this.inner.unwatch?.(room);
  }

  ping(): Promise<boolean> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
