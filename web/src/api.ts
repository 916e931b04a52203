import { ERRORS, SwitchboardError, isErrorCode } from 'switchboard-client';

/**
 * Where the server is: the folder the app was loaded from (`http://host/` or, when Switchboard
 * is mounted under a path of another server, `http://host/chat/`).
 */
export function serverBase(): string {
  return new URL('.', location.href).href;
}

/**
 * One JSON request to the Switchboard API outside the SDK (room list, room creation, auth).
 * `token` goes as `Authorization: Bearer`. Throws a SwitchboardError with the server's code and
 * detail on a failure (INTERNAL for a network failure or an answer that is not Switchboard's).
 */
export async function apiRequest<T>(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, options: { token?: string | undefined; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let res: Response;
  try {
    res = await fetch(new URL(path.replace(/^\//, ''), serverBase()), { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
  } catch (err) {
    throw new SwitchboardError('INTERNAL', `network: ${(err as Error).message}`);
  }
  const body: unknown = await res.json().catch(() => undefined);
  if (!res.ok) throw errorOf(res.status, body);
  return body as T;
}

/** The catalog error of an error answer, keeping the server's detail ("signature does not verify"). */
function errorOf(status: number, body: unknown): SwitchboardError {
  const { code, message } = (body && typeof body === 'object' ? body : {}) as { code?: unknown; message?: unknown };
  if (!isErrorCode(code)) return new SwitchboardError('INTERNAL', `HTTP ${status}`);
  const prefix = `${ERRORS[code].message}: `;
  const detail = typeof message === 'string' && message.startsWith(prefix) ? message.slice(prefix.length) : undefined;
  return new SwitchboardError(code, detail);
}

/** The failures a new token (or a new dev login) may cure: no valid token. */
export function isAuthError(err: unknown): boolean {
  return err instanceof SwitchboardError && (err.code === 'UNAUTHORIZED' || err.code === 'TOKEN_EXPIRED');
}

/** No valid token, or a token without the right: UNAUTHORIZED, TOKEN_EXPIRED, FORBIDDEN. */
export function isAccessError(err: unknown): err is SwitchboardError {
  return err instanceof SwitchboardError && (err.code === 'UNAUTHORIZED' || err.code === 'TOKEN_EXPIRED' || err.code === 'FORBIDDEN');
}

/** The detail a SwitchboardError carries after its catalog message, if any. */
export function detailOf(err: SwitchboardError): string | undefined {
  const prefix = `${ERRORS[err.code].message}: `;
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : undefined;
}
