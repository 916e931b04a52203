import type { Broker, BrokerMessage } from './broker.js';

/** The single-node broker: hands each message straight back to this node's hub. */
export class LocalBroker implements Broker {
  readonly kind = 'local';
  private handler: (message: BrokerMessage) => void = () => {};

  async init(): Promise<void> {}

  async publish(message: BrokerMessage): Promise<void> {
    this.handler(message);
  }

  onMessage(handler: (message: BrokerMessage) => void): void {
    this.handler = handler;
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}
}
