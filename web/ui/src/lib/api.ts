// The REST client of the UI. The session lives in HttpOnly cookies the page cannot read
// (ms_access, ms_refresh); the page reads only ms_csrf and echoes it in X-CSRF-Token on every
// request that changes something. An answer of 401 triggers one silent refresh, shared by
// every request that is waiting, and the request is tried once more.
import type { InjectionKey } from 'vue'

/** ApiError is a failed request: the HTTP status and the server's error code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** seconds to wait before trying again (429 Retry-After), 0 if the server gave none */
    readonly retryAfter = 0,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/** ApiOptions are what the client needs from the page; tests pass their own. */
export interface ApiOptions {
  fetch?: typeof fetch
  /** the document's cookies, to read the CSRF token from */
  cookies?: () => string
  /** called when a request meets 401 and the server refuses the refresh: the session is
   *  over (it may be called once for each request that was waiting) */
  onSessionLost?: () => void
}

/** How a refresh went: 'ok'; 'refused' (401 or 403: the session is over); 'failed' (the
 *  device did not answer, or answered 429 or 5xx: try again later, the session may live). */
export type RefreshResult = 'ok' | 'refused' | 'failed'

export interface Api {
  get<T>(path: string): Promise<T>
  post<T>(path: string, body?: unknown): Promise<T>
  /** refresh trades the refresh cookie for new tokens */
  refresh(): Promise<RefreshResult>
}

export const CSRF_COOKIE = 'ms_csrf'

/** REFRESH_TIMEOUT_MS bounds a refresh; after it the refresh counts as 'failed'. */
export const REFRESH_TIMEOUT_MS = 10_000

/** csrfToken reads the CSRF cookie from a document.cookie string. */
export function csrfToken(cookies: string): string {
  for (const part of cookies.split(';')) {
    const [name, ...rest] = part.trim().split('=')
    if (name === CSRF_COOKIE) return decodeURIComponent(rest.join('='))
  }
  return ''
}

export function createApi(opts: ApiOptions = {}): Api {
  const doFetch = opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init))
  const cookies = opts.cookies ?? (() => document.cookie)
  let refreshing: Promise<RefreshResult> | null = null

  async function send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    if (method !== 'GET') {
      headers['X-CSRF-Token'] = csrfToken(cookies())
      if (body !== undefined) headers['Content-Type'] = 'application/json'
    }
    try {
      return await doFetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
        signal,
      })
    } catch (e) {
      throw new ApiError(0, 'network', `the device did not answer (${(e as Error).message})`)
    }
  }

  async function decode<T>(res: Response): Promise<T> {
    if (res.status === 204) return undefined as T
    const text = await res.text()
    let json: unknown
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      throw new ApiError(res.status, 'bad_answer', `the device answered ${res.status} with something that is not JSON`)
    }
    if (res.ok) return json as T
    const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error
    const retry = Number(res.headers.get('Retry-After') ?? 0)
    throw new ApiError(res.status, err?.code ?? 'http_' + res.status, err?.message ?? res.statusText, Number.isFinite(retry) ? retry : 0)
  }

  async function refreshOnce(): Promise<RefreshResult> {
    try {
      // A refresh holds the other tabs' refreshes behind it: one that hangs (a half-open
      // connection) must give up.
      const timeout = typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(REFRESH_TIMEOUT_MS) : undefined
      const res = await send('POST', '/api/auth/refresh', undefined, timeout)
      if (res.ok) return 'ok'
      return res.status === 401 || res.status === 403 ? 'refused' : 'failed'
    } catch {
      return 'failed'
    }
  }

  async function refresh(): Promise<RefreshResult> {
    refreshing ??= (async () => {
      try {
        // Tabs of one browser share the cookies: two refreshing at once would present the
        // same refresh token twice, which the server takes for theft and ends the session.
        // One at a time, the second presents the token the first got.
        const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
        return locks ? await locks.request('ms-refresh', refreshOnce) : await refreshOnce()
      } finally {
        // Let the next expiry start a new refresh.
        setTimeout(() => (refreshing = null), 0)
      }
    })()
    return refreshing
  }

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res = await send(method, path, body)
    if (res.status === 401 && !path.startsWith('/api/auth/')) {
      const r = await refresh()
      if (r === 'ok') res = await send(method, path, body)
      // A refresh that merely failed (no answer, 5xx) leaves the session for a later try.
      if (r === 'refused' || (r === 'ok' && res.status === 401)) opts.onSessionLost?.()
    }
    return decode<T>(res)
  }

  return {
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body),
    refresh,
  }
}

/** API is how components get the app's Api. */
export const API: InjectionKey<Api> = Symbol('api')
