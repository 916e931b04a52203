import type { TransportName } from '../../protocol/types.js';
import { LongPollingTransport } from './long-polling-transport.js';
import { PollingTransport } from './polling-transport.js';
import { SseTransport } from './sse-transport.js';
import type { Transport, TransportEvents, TransportSettings } from './transport.js';
import { WebSocketTransport } from './websocket-transport.js';

/** A new, unopened transport of the given kind. */
export function createTransport(name: TransportName, settings: TransportSettings, events: TransportEvents): Transport {
  switch (name) {
    case 'websocket':
      return new WebSocketTransport(settings, events);
    case 'sse':
      return new SseTransport(settings, events);
    case 'long-polling':
      return new LongPollingTransport(settings, events);
    case 'polling':
      return new PollingTransport(settings, events);
  }
}
