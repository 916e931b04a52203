/**
 * Stands in for the `ws` package in browser builds (see vite.config.ts): browsers have a
 * global WebSocket, so the SDK never loads this. Importing it anyway fails loudly.
 */
const WebSocketUnavailable = class {
  constructor() {
    throw new Error('The ws package is not available in browsers: use globalThis.WebSocket');
  }
};
export default WebSocketUnavailable;
export { WebSocketUnavailable as WebSocket };
