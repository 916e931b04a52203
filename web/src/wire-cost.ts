import type { WireEvent } from 'switchboard-client';

/**
 * HTTP headers of one request and its answer, which the SDK cannot see (fetch hides them):
 * measured in Chromium against Switchboard, about 516 B of request headers and 204 B of answer
 * headers for a poll, a little more for a POST.
 */
export const HTTP_HEADER_BYTES = 720;

/**
 * Estimated bytes on the wire of one wire event: the payload the SDK reports plus what frames
 * it: HTTP headers, WebSocket frame headers (2-10 B, plus a 4 B mask from the client), SSE field
 * names and the chunked-encoding line around each event.
 */
export function wireCost(e: WireEvent): number {
  switch (e.kind) {
    case 'http':
      // A request with a body reports it in `bytes`, its answer's body apart.
      return e.bytes + (e.direction === 'out' ? (e.responseBytes ?? 0) : 0) + HTTP_HEADER_BYTES;
    case 'ws':
      return e.bytes + (e.bytes < 126 ? 2 : e.bytes < 65_536 ? 4 : 10) + (e.direction === 'out' ? 4 : 0);
    case 'sse':
      // "id: <id>\n" "event: message\n" "data: " ... "\n\n" and "<hex>\r\n" ... "\r\n"
      return e.bytes + (e.id ? e.id.length + 5 : 0) + 24 + 8;
    case 'heartbeat':
      return e.bytes + (e.bytes === 0 ? 2 : 8);
  }
}
