import { describe, expect, it, vi } from 'vitest'
import { ApiError, createApi, csrfToken } from './api'

interface Call {
  path: string
  method: string
  headers: Record<string, string>
  body: string | undefined
}

type Answer = Response | Promise<Response> | (() => Response | Promise<Response>)

/** fakeFetch answers each path from a queue of answers (the last one repeats) and records the calls. */
function fakeFetch(answers: Record<string, Answer[]>) {
  const calls: Call[] = []
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const path = String(input)
    calls.push({
      path,
      method: init?.method ?? 'GET',
      headers: { ...(init?.headers as Record<string, string>) },
      body: init?.body as string | undefined,
    })
    const queue = answers[path]
    if (!queue || queue.length === 0) throw new Error('unexpected request ' + path)
    const a = queue.length > 1 ? queue.shift()! : queue[0]
    return typeof a === 'function' ? a() : a
  })
  return { fetch: fn as unknown as typeof fetch, calls }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } })
const errorBody = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
  json(status, { error: { code, message } }, headers)
const noContent = () => () => new Response(null, { status: 204 })

function deferred<T>() {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

async function caught(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError)
    return e as ApiError
  }
  throw new Error('expected the request to fail')
}

const cookies = () => 'ms_lang=pl; ms_csrf=tok123'

describe('csrfToken', () => {
  it.each([
    ['only the csrf cookie', 'ms_csrf=abc', 'abc'],
    ['several cookies', 'a=1; ms_csrf=abc; b=2', 'abc'],
    ['no spaces after semicolons', 'a=1;ms_csrf=abc;b=2', 'abc'],
    ['missing', 'a=1; b=2', ''],
    ['empty document.cookie', '', ''],
    ['url-encoded', 'ms_csrf=a%2Bb%3D%3D', 'a+b=='],
    ['value with = (base64 padding)', 'ms_csrf=abc==; x=1', 'abc=='],
    ['a cookie whose name only ends in ms_csrf', 'xms_csrf=no; ms_csrf=yes', 'yes'],
    ['a cookie whose name starts with ms_csrf', 'ms_csrf_old=no', ''],
    ['last cookie', 'a=1; ms_csrf=last', 'last'],
  ])('%s', (_name, cookie, want) => {
    expect(csrfToken(cookie)).toBe(want)
  })
})

describe('createApi', () => {
  it('GETs JSON without a CSRF header', async () => {
    const f = fakeFetch({ '/api/x': [json(200, { a: 1 })] })
    const api = createApi({ fetch: f.fetch, cookies })
    await expect(api.get('/api/x')).resolves.toEqual({ a: 1 })
    expect(f.calls).toHaveLength(1)
    expect(f.calls[0].method).toBe('GET')
    expect(f.calls[0].headers['X-CSRF-Token']).toBeUndefined()
    expect(f.calls[0].headers['Content-Type']).toBeUndefined()
    expect(f.calls[0].headers.Accept).toBe('application/json')
    expect(f.calls[0].body).toBeUndefined()
  })

  it('POSTs JSON with the CSRF token from the ms_csrf cookie', async () => {
    const f = fakeFetch({ '/api/y': [json(200, { ok: true })] })
    const api = createApi({ fetch: f.fetch, cookies })
    await expect(api.post('/api/y', { comment: 'x' })).resolves.toEqual({ ok: true })
    expect(f.calls[0].method).toBe('POST')
    expect(f.calls[0].headers['X-CSRF-Token']).toBe('tok123')
    expect(f.calls[0].headers['Content-Type']).toBe('application/json')
    expect(JSON.parse(f.calls[0].body!)).toEqual({ comment: 'x' })
  })

  it('POSTs without a body: CSRF header but no Content-Type', async () => {
    const f = fakeFetch({ '/api/y': [noContent()] })
    const api = createApi({ fetch: f.fetch, cookies })
    await expect(api.post('/api/y')).resolves.toBeUndefined()
    expect(f.calls[0].headers['X-CSRF-Token']).toBe('tok123')
    expect(f.calls[0].headers['Content-Type']).toBeUndefined()
    expect(f.calls[0].body).toBeUndefined()
  })

  it('answers 204 with undefined', async () => {
    const f = fakeFetch({ '/api/z': [noContent()] })
    await expect(createApi({ fetch: f.fetch, cookies }).get('/api/z')).resolves.toBeUndefined()
  })

  it('answers 200 with an empty body with undefined', async () => {
    const f = fakeFetch({ '/api/z': [() => new Response('', { status: 200 })] })
    await expect(createApi({ fetch: f.fetch, cookies }).get('/api/z')).resolves.toBeUndefined()
  })

  it('turns a JSON error body into an ApiError with status, code and message', async () => {
    const f = fakeFetch({ '/api/x': [errorBody(404, 'not_found', 'no such sensor')] })
    const e = await caught(createApi({ fetch: f.fetch, cookies }).get('/api/x'))
    expect(e.status).toBe(404)
    expect(e.code).toBe('not_found')
    expect(e.message).toBe('no such sensor')
    expect(e.retryAfter).toBe(0)
    expect(e.name).toBe('ApiError')
  })

  it.each([
    ['whole seconds', '7', 7],
    ['absent', undefined, 0],
    ['an HTTP date (not a number)', 'Wed, 21 Oct 2015 07:28:00 GMT', 0],
  ])('parses Retry-After: %s', async (_name, header, want) => {
    const headers: Record<string, string> = header === undefined ? {} : { 'Retry-After': header }
    const f = fakeFetch({ '/api/auth/login': [errorBody(429, 'limit', 'too many', headers)] })
    const e = await caught(createApi({ fetch: f.fetch, cookies }).post('/api/auth/login', {}))
    expect(e.status).toBe(429)
    expect(e.code).toBe('limit')
    expect(e.retryAfter).toBe(want)
  })

  it('an error without a JSON body gets code http_<status>', async () => {
    const f = fakeFetch({ '/api/x': [() => new Response('', { status: 503, statusText: 'Service Unavailable' })] })
    const e = await caught(createApi({ fetch: f.fetch, cookies }).get('/api/x'))
    expect(e.status).toBe(503)
    expect(e.code).toBe('http_503')
    expect(e.message).toBe('Service Unavailable')
  })

  it.each([
    ['200', 200],
    ['502', 502],
  ])('a non-JSON answer (%s) is a bad_answer', async (_name, status) => {
    const f = fakeFetch({ '/api/x': [() => new Response('<html>proxy error</html>', { status })] })
    const e = await caught(createApi({ fetch: f.fetch, cookies }).get('/api/x'))
    expect(e.status).toBe(status)
    expect(e.code).toBe('bad_answer')
  })

  it('a network failure is an ApiError with code network and status 0', async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch')
    }) as unknown as typeof globalThis.fetch
    const e = await caught(createApi({ fetch, cookies }).get('/api/x'))
    expect(e.status).toBe(0)
    expect(e.code).toBe('network')
    expect(e.message).toContain('Failed to fetch')
  })

  it('401: refreshes once, then tries the request once more', async () => {
    const f = fakeFetch({
      '/api/x': [errorBody(401, 'unauthorized', 'expired'), json(200, { v: 2 })],
      '/api/auth/refresh': [noContent()],
    })
    const onSessionLost = vi.fn()
    const api = createApi({ fetch: f.fetch, cookies, onSessionLost })
    await expect(api.get('/api/x')).resolves.toEqual({ v: 2 })
    expect(f.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['GET /api/x', 'POST /api/auth/refresh', 'GET /api/x'])
    expect(f.calls[1].headers['X-CSRF-Token']).toBe('tok123')
    expect(onSessionLost).not.toHaveBeenCalled()
  })

  it('a POST retried after a refresh sends the same body and the CSRF token of the new cookie', async () => {
    let csrf = 'old'
    const f = fakeFetch({
      '/api/alerts/1/ack': [errorBody(401, 'unauthorized', 'expired'), json(200, { id: 1 })],
      '/api/auth/refresh': [
        () => {
          csrf = 'new' // the refresh rotates the CSRF cookie
          return new Response(null, { status: 204 })
        },
      ],
    })
    const api = createApi({ fetch: f.fetch, cookies: () => `ms_csrf=${csrf}` })
    await expect(api.post('/api/alerts/1/ack', { comment: 'c' })).resolves.toEqual({ id: 1 })
    expect(f.calls).toHaveLength(3)
    expect(f.calls[0].headers['X-CSRF-Token']).toBe('old')
    expect(f.calls[2].headers['X-CSRF-Token']).toBe('new')
    expect(f.calls[2].body).toBe(f.calls[0].body)
  })

  it('a 401 after a good refresh is not retried again and ends the session', async () => {
    const f = fakeFetch({
      '/api/x': [errorBody(401, 'unauthorized', 'no')],
      '/api/auth/refresh': [noContent()],
    })
    const onSessionLost = vi.fn()
    const e = await caught(createApi({ fetch: f.fetch, cookies, onSessionLost }).get('/api/x'))
    expect(e.status).toBe(401)
    expect(f.calls.map((c) => c.path)).toEqual(['/api/x', '/api/auth/refresh', '/api/x'])
    expect(onSessionLost).toHaveBeenCalledTimes(1)
  })

  it('concurrent 401s share ONE refresh', async () => {
    const gate = deferred<Response>()
    const f = fakeFetch({
      '/api/a': [errorBody(401, 'unauthorized', 'x'), json(200, 'a')],
      '/api/b': [errorBody(401, 'unauthorized', 'x'), json(200, 'b')],
      '/api/c': [errorBody(401, 'unauthorized', 'x'), json(200, 'c')],
      '/api/auth/refresh': [() => gate.promise],
    })
    const api = createApi({ fetch: f.fetch, cookies })
    const all = Promise.all([api.get('/api/a'), api.get('/api/b'), api.post('/api/c', {})])
    // Let every first answer come back before the refresh does.
    await vi.waitFor(() => expect(f.calls.filter((c) => c.path !== '/api/auth/refresh')).toHaveLength(3))
    await new Promise((r) => setTimeout(r, 0))
    gate.resolve(new Response(null, { status: 204 }))
    await expect(all).resolves.toEqual(['a', 'b', 'c'])
    expect(f.calls.filter((c) => c.path === '/api/auth/refresh')).toHaveLength(1)
    expect(f.calls).toHaveLength(7)
  })

  it('a later expiry starts a new refresh', async () => {
    const f = fakeFetch({
      '/api/x': [errorBody(401, 'unauthorized', 'x'), json(200, 1), errorBody(401, 'unauthorized', 'x'), json(200, 2)],
      '/api/auth/refresh': [noContent()],
    })
    const api = createApi({ fetch: f.fetch, cookies })
    await expect(api.get('/api/x')).resolves.toBe(1)
    await new Promise((r) => setTimeout(r, 5))
    await expect(api.get('/api/x')).resolves.toBe(2)
    expect(f.calls.filter((c) => c.path === '/api/auth/refresh')).toHaveLength(2)
  })

  it.each([
    ['refused (401)', errorBody(401, 'unauthorized', 'session over'), 1],
    ['refused (403)', errorBody(403, 'forbidden', 'missing or wrong CSRF token'), 1],
    // No answer, or a server in trouble: the session may be fine, so it is not ended.
    ['network failure', () => Promise.reject(new TypeError('Failed to fetch')), 0],
    ['server error', errorBody(500, 'internal', 'disk full'), 0],
    ['rate limit', errorBody(429, 'limit', 'slow down'), 0],
  ])('refresh %s: the 401 is thrown, no retry, onSessionLost %i times', async (_name, refreshAnswer, lost) => {
    const f = fakeFetch({
      '/api/x': [errorBody(401, 'unauthorized', 'expired')],
      '/api/auth/refresh': [refreshAnswer as Answer],
    })
    const onSessionLost = vi.fn()
    const e = await caught(createApi({ fetch: f.fetch, cookies, onSessionLost }).get('/api/x'))
    expect(e.status).toBe(401)
    expect(e.code).toBe('unauthorized')
    expect(onSessionLost).toHaveBeenCalledTimes(lost)
    expect(f.calls.map((c) => c.path)).toEqual(['/api/x', '/api/auth/refresh'])
  })

  it.each([
    ['2xx', noContent(), 'ok'],
    ['401', errorBody(401, 'unauthorized', 'x'), 'refused'],
    ['403', errorBody(403, 'forbidden', 'x'), 'refused'],
    ['500', errorBody(500, 'internal', 'x'), 'failed'],
    ['no answer', () => Promise.reject(new TypeError('Failed to fetch')), 'failed'],
  ])('refresh() answers %s with %s', async (_name, answer, want) => {
    const f = fakeFetch({ '/api/auth/refresh': [answer as Answer] })
    await expect(createApi({ fetch: f.fetch, cookies }).refresh()).resolves.toBe(want)
    expect(f.calls[0].method).toBe('POST')
  })

  it.each(['/api/auth/login', '/api/auth/me', '/api/auth/logout', '/api/auth/refresh'])(
    '%s never triggers a refresh',
    async (path) => {
      const f = fakeFetch({ [path]: [errorBody(401, 'unauthorized', 'wrong username, password or role')] })
      const onSessionLost = vi.fn()
      const api = createApi({ fetch: f.fetch, cookies, onSessionLost })
      const e = await caught(path === '/api/auth/me' ? api.get(path) : api.post(path, {}))
      expect(e.status).toBe(401)
      expect(f.calls).toHaveLength(1)
      expect(onSessionLost).not.toHaveBeenCalled()
    },
  )

  it('other errors than 401 do not trigger a refresh', async () => {
    const f = fakeFetch({ '/api/x': [errorBody(403, 'forbidden', 'no')] })
    const onSessionLost = vi.fn()
    const e = await caught(createApi({ fetch: f.fetch, cookies, onSessionLost }).get('/api/x'))
    expect(e.code).toBe('forbidden')
    expect(f.calls).toHaveLength(1)
    expect(onSessionLost).not.toHaveBeenCalled()
  })
})
