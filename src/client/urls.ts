import { ConnectionError } from './errors.js';

/** Parses the `url` option: an http(s) URL, or INVALID_URL. */
export function parseBaseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConnectionError('INVALID_URL', `not a URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConnectionError('INVALID_URL', `the URL must start with http:// or https://: ${JSON.stringify(text)}`);
  }
  return url;
}

/**
 * `path` (starting with `/`) under the base URL, which may itself have a path (a server
 * mounted at `https://example.com/chat/`), with the defined query parameters.
 */
export function apiUrl(base: URL, path: string, query: Record<string, string | number | undefined> = {}): URL {
  const url = new URL(base.href);
  url.pathname = base.pathname.replace(/\/+$/, '') + path;
  url.search = '';
  url.hash = '';
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
  return url;
}

/** The same as apiUrl with the scheme turned into ws: / wss:. */
export function wsUrl(base: URL, path: string, query: Record<string, string | number | undefined> = {}): URL {
  const url = apiUrl(base, path, query);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url;
}

/** Path and query of a URL, without the token (for the wire inspector). */
export function displayPath(url: URL): string {
  if (!url.searchParams.has('token')) return url.pathname + url.search;
  const copy = new URL(url.href);
  copy.searchParams.set('token', '…');
  return copy.pathname + copy.search;
}
