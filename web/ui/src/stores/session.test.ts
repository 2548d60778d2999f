import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError, type Api, type RefreshResult } from '../lib/api'
import { SIGNIN_IDLE_MS, WARN_SECONDS, createSession, type LiveViewProbe, type SessionClock } from './session'

const T0 = Date.parse('2025-03-01T08:00:00Z')

function fakeClock() {
  let t = T0
  const intervals: { fn: () => void; ms: number; id: number }[] = []
  const cleared: unknown[] = []
  let next = 1
  const clock: SessionClock = {
    now: () => t,
    setInterval: vi.fn((fn: () => void, ms: number) => {
      const id = next++
      intervals.push({ fn, ms, id })
      return id
    }),
    clearInterval: vi.fn((id: unknown) => {
      cleared.push(id)
    }),
  }
  return {
    clock,
    intervals,
    cleared,
    /** advance moves the time on by seconds */
    advance(s: number) {
      t += s * 1000
    },
  }
}

function fakeApi() {
  const api = {
    get: vi.fn(async (_path: string): Promise<unknown> => undefined),
    post: vi.fn(async (_path: string, _body?: unknown): Promise<unknown> => undefined),
    refresh: vi.fn(async (): Promise<RefreshResult> => 'ok'),
  }
  return { api, asApi: api as unknown as Api }
}

const answer = (over: Record<string, unknown> = {}) => ({
  username: 'jan',
  role: 'OPERATOR',
  permissions: ['view_sensors', 'view_alerts', 'ack_alerts'],
  color: '#27ae60',
  session_timeout: 300,
  expires_in: 900,
  ...over,
})

/** flush lets the promise chains of the store run. */
const flush = () => new Promise((r) => setTimeout(r, 0))

async function signedIn(over: Record<string, unknown> = {}) {
  const c = fakeClock()
  const a = fakeApi()
  a.api.post.mockImplementation(async (path: string) => (path === '/api/auth/login' ? answer(over) : undefined))
  const s = createSession(a.asApi, c.clock)
  await s.login('jan', 'secret', 'OPERATOR')
  return { ...c, ...a, s }
}

describe('login', () => {
  it('posts the credentials and sets the user and permissions', async () => {
    const { s, api, clock } = await signedIn()
    expect(api.post).toHaveBeenCalledWith('/api/auth/login', { username: 'jan', password: 'secret', role: 'OPERATOR' })
    expect(s.state.user).toEqual({
      username: 'jan',
      role: 'OPERATOR',
      permissions: ['view_sensors', 'view_alerts', 'ack_alerts'],
      color: '#27ae60',
      sessionTimeout: 300,
    })
    expect(s.state.ended).toBe('')
    expect(s.state.idleLeft).toBe(300)
    expect(clock.setInterval).toHaveBeenCalledTimes(1)
    expect(vi.mocked(clock.setInterval).mock.calls[0][1]).toBe(1000)
  })

  it('a refused login leaves no user and throws the ApiError', async () => {
    const c = fakeClock()
    const a = fakeApi()
    a.api.post.mockRejectedValue(new ApiError(401, 'unauthorized', 'wrong username, password or role'))
    const s = createSession(a.asApi, c.clock)
    await expect(s.login('jan', 'bad', 'OPERATOR')).rejects.toMatchObject({ status: 401, code: 'unauthorized' })
    expect(s.state.user).toBeNull()
    expect(c.clock.setInterval).not.toHaveBeenCalled()
  })

  it('a missing permissions list counts as none', async () => {
    const { s } = await signedIn({ permissions: undefined })
    expect(s.state.user?.permissions).toEqual([])
    expect(s.can('view_sensors')).toBe(false)
  })

  it('a second login keeps one timer', async () => {
    const { s, clock } = await signedIn()
    await s.login('jan', 'secret', 'OPERATOR')
    expect(clock.setInterval).toHaveBeenCalledTimes(1)
  })

  it('the state is read-only from outside', async () => {
    const { s } = await signedIn()
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    ;(s.state as { ended: string }).ended = 'idle'
    expect(s.state.ended).toBe('')
    warn.mockRestore()
  })
})

describe('can', () => {
  it.each([
    [['view_sensors'], 'view_sensors', true],
    [['view_sensors'], 'view_alerts', false],
    [['view_sensors', 'view_alerts'], 'view_alerts', true],
    [[], 'view_sensors', false],
    [['full_system_access'], 'view_sensors', true],
    [['full_system_access'], 'manage_users', true],
    [['view_sensors', 'full_system_access'], 'anything_at_all', true],
  ])('permissions %j: can(%s) is %s', async (permissions, p, want) => {
    const { s } = await signedIn({ permissions })
    expect(s.can(p)).toBe(want)
  })

  it('nobody signed in can do nothing', () => {
    const s = createSession(fakeApi().asApi, fakeClock().clock)
    expect(s.can('view_sensors')).toBe(false)
    expect(s.can('full_system_access')).toBe(false)
  })
})

describe('idle timeout', () => {
  it('idleLeft counts down with the clock', async () => {
    const { s, advance } = await signedIn()
    const seen: number[] = []
    for (const step of [0.5, 0.5, 99, 100, 40, 1, 1]) {
      advance(step)
      s.tick()
      seen.push(s.state.idleLeft)
    }
    // ceil: half a second gone still shows the whole 300
    expect(seen).toEqual([300, 299, 200, 100, 60, 59, 58])
  })

  it('the countdown threshold is WARN_SECONDS', async () => {
    expect(WARN_SECONDS).toBe(60)
    const { s, advance } = await signedIn()
    advance(300 - WARN_SECONDS - 1)
    s.tick()
    expect(s.state.idleLeft).toBeGreaterThan(WARN_SECONDS)
    advance(1)
    s.tick()
    expect(s.state.idleLeft).toBe(WARN_SECONDS)
  })

  it('touch() during the countdown starts the timeout again at once', async () => {
    const { s, advance } = await signedIn()
    advance(270)
    s.tick()
    expect(s.state.idleLeft).toBe(30)
    s.touch()
    expect(s.state.idleLeft).toBe(300)
    advance(200)
    s.tick()
    expect(s.state.idleLeft).toBe(100)
    expect(s.state.user).not.toBeNull()
  })

  it('touch() before the countdown resets the timeout from that moment', async () => {
    const { s, advance } = await signedIn()
    advance(100)
    s.touch()
    advance(250)
    s.tick()
    expect(s.state.idleLeft).toBe(50)
    expect(s.state.user).not.toBeNull()
  })

  it('reaching 0 signs out with ended=idle and POSTs /api/auth/logout', async () => {
    const { s, advance, api, clock, cleared } = await signedIn()
    advance(299)
    s.tick()
    expect(s.state.idleLeft).toBe(1)
    expect(s.state.user).not.toBeNull()
    advance(1)
    s.tick()
    await flush()
    expect(s.state.user).toBeNull()
    expect(s.state.ended).toBe('idle')
    expect(s.state.idleLeft).toBe(Infinity)
    expect(api.post).toHaveBeenCalledWith('/api/auth/logout')
    expect(clock.clearInterval).toHaveBeenCalledTimes(1)
    expect(cleared).toEqual([1])
  })

  it('the interval set by login drives the same tick', async () => {
    const { s, advance, intervals } = await signedIn()
    advance(300)
    intervals[0].fn()
    expect(s.state.ended).toBe('idle')
  })

  it('a failed logout request still signs out', async () => {
    const { s, advance, api } = await signedIn()
    api.post.mockRejectedValue(new ApiError(0, 'network', 'down'))
    advance(300)
    s.tick()
    await flush()
    expect(s.state.user).toBeNull()
    expect(s.state.ended).toBe('idle')
  })
})

describe('a logout the server did not get', () => {
  it.each([
    ['answered', undefined, 0],
    ['not answered', new ApiError(0, 'network', 'down'), 1],
  ])('logout %s: the CSRF cookie is forgotten %i times, so a reload does not restore the session', async (_n, err, forgets) => {
    const c = fakeClock()
    const a = fakeApi()
    a.api.post.mockImplementation(async (path: string) => {
      if (path === '/api/auth/login') return answer()
      if (err) throw err
      return undefined
    })
    const forget = vi.fn()
    const s = createSession(a.asApi, c.clock, forget)
    await s.login('jan', 'secret', 'OPERATOR')
    await s.logout()
    expect(s.state.user).toBeNull()
    expect(forget).toHaveBeenCalledTimes(forgets)
  })
})

describe('logout and lost', () => {
  it('logout() ends with signed_out and POSTs /api/auth/logout', async () => {
    const { s, api } = await signedIn()
    await s.logout()
    expect(s.state.user).toBeNull()
    expect(s.state.ended).toBe('signed_out')
    expect(api.post).toHaveBeenLastCalledWith('/api/auth/logout')
  })

  it('logout() with nobody signed in sends nothing', async () => {
    const a = fakeApi()
    const s = createSession(a.asApi, fakeClock().clock)
    await s.logout()
    expect(a.api.post).not.toHaveBeenCalled()
    expect(s.state.ended).toBe('')
  })

  it('lost() ends the session as expired, without a request', async () => {
    const { s, api, clock } = await signedIn()
    api.post.mockClear()
    s.lost()
    expect(s.state.user).toBeNull()
    expect(s.state.ended).toBe('expired')
    expect(api.post).not.toHaveBeenCalled()
    expect(clock.clearInterval).toHaveBeenCalled()
  })

  it('lost() after a sign-out keeps the reason', async () => {
    const { s } = await signedIn()
    await s.logout()
    s.lost()
    expect(s.state.ended).toBe('signed_out')
  })

  it('a new login clears the reason', async () => {
    const { s } = await signedIn()
    s.lost()
    await s.login('jan', 'secret', 'OPERATOR')
    expect(s.state.ended).toBe('')
  })
})

describe('silent refresh', () => {
  it('refreshes about 60 s before the access token expires (expires_in)', async () => {
    const { s, advance, api } = await signedIn({ session_timeout: 3600, expires_in: 900 })
    advance(839)
    s.tick()
    expect(api.refresh).not.toHaveBeenCalled()
    advance(1)
    s.tick()
    expect(api.refresh).toHaveBeenCalledTimes(1)
  })

  it('one refresh at a time, and the next one 15 min later', async () => {
    const { s, advance, api } = await signedIn({ session_timeout: 3600, expires_in: 900 })
    let done!: (r: RefreshResult) => void
    api.refresh.mockImplementation(() => new Promise<RefreshResult>((r) => (done = r)))
    advance(840)
    s.tick()
    advance(1)
    s.tick()
    s.tick()
    expect(api.refresh).toHaveBeenCalledTimes(1)
    done('ok')
    await flush()
    expect(s.state.user).not.toBeNull()
    // the new token lasts 15 min from the refresh (at 841 s); next refresh at 841 + 840 s
    api.refresh.mockResolvedValue('ok')
    advance(839)
    s.tick()
    expect(api.refresh).toHaveBeenCalledTimes(1)
    advance(1)
    s.tick()
    expect(api.refresh).toHaveBeenCalledTimes(2)
  })

  it('a refused refresh ends the session as expired', async () => {
    const { s, advance, api } = await signedIn({ session_timeout: 3600, expires_in: 900 })
    api.refresh.mockResolvedValue('refused')
    advance(845)
    s.tick()
    await flush()
    expect(s.state.user).toBeNull()
    expect(s.state.ended).toBe('expired')
  })

  it('a refresh without an answer keeps the session and tries again 5 s later', async () => {
    const { s, advance, api } = await signedIn({ session_timeout: 3600, expires_in: 900 })
    api.refresh.mockResolvedValue('failed')
    advance(845)
    s.tick()
    await flush()
    expect(s.state.user).not.toBeNull()
    expect(api.refresh).toHaveBeenCalledTimes(1)
    advance(4)
    s.tick()
    await flush()
    expect(api.refresh).toHaveBeenCalledTimes(1)
    api.refresh.mockResolvedValue('ok')
    advance(1)
    s.tick()
    await flush()
    expect(api.refresh).toHaveBeenCalledTimes(2)
    expect(s.state.user).not.toBeNull()
  })

  // After a reload only the device's expiry time is known, and the device's clock need not
  // agree with the browser's: refresh at once and count from there.
  it('token_expires (a reload): refresh at once, then every 14 min', async () => {
    const { s, advance, api } = await signedIn({
      session_timeout: 3600,
      expires_in: undefined,
      token_expires: new Date(T0 + 86_400_000).toISOString(), // a device a day ahead
    })
    s.tick()
    await flush()
    expect(api.refresh).toHaveBeenCalledTimes(1)
    advance(839)
    s.tick()
    expect(api.refresh).toHaveBeenCalledTimes(1)
    advance(1)
    s.tick()
    expect(api.refresh).toHaveBeenCalledTimes(2)
  })

  it('no expiry known: no refresh', async () => {
    const { s, advance, api } = await signedIn({ session_timeout: 100_000, expires_in: undefined })
    advance(50_000)
    s.tick()
    expect(api.refresh).not.toHaveBeenCalled()
  })
})

describe('restore', () => {
  let warn: ReturnType<typeof vi.spyOn>
  beforeEach(() => {
    warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
  })
  afterEach(() => warn.mockRestore())

  it('starts as restoring', () => {
    const s = createSession(fakeApi().asApi, fakeClock().clock)
    expect(s.state.restoring).toBe(true)
    expect(s.state.user).toBeNull()
  })

  it('no CSRF cookie: no request, no user', async () => {
    const a = fakeApi()
    const s = createSession(a.asApi, fakeClock().clock)
    await s.restore(() => false)
    expect(a.api.get).not.toHaveBeenCalled()
    expect(a.api.refresh).not.toHaveBeenCalled()
    expect(s.state.user).toBeNull()
    expect(s.state.restoring).toBe(false)
  })

  it('/me answers 200: the user is back', async () => {
    const a = fakeApi()
    a.api.get.mockResolvedValue(answer({ username: 'ola', role: 'ADMIN' }))
    const s = createSession(a.asApi, fakeClock().clock)
    await s.restore(() => true)
    expect(a.api.get).toHaveBeenCalledWith('/api/auth/me')
    expect(a.api.refresh).not.toHaveBeenCalled()
    expect(s.state.user?.username).toBe('ola')
    expect(s.state.user?.role).toBe('ADMIN')
    expect(s.state.restoring).toBe(false)
    expect(s.state.idleLeft).toBe(300)
  })

  it('/me answers 401, the refresh works: /me again', async () => {
    const a = fakeApi()
    a.api.get.mockRejectedValueOnce(new ApiError(401, 'unauthorized', 'expired')).mockResolvedValueOnce(answer())
    a.api.refresh.mockResolvedValue('ok')
    const s = createSession(a.asApi, fakeClock().clock)
    await s.restore()
    expect(a.api.get).toHaveBeenCalledTimes(2)
    expect(a.api.refresh).toHaveBeenCalledTimes(1)
    expect(s.state.user?.username).toBe('jan')
    expect(s.state.restoring).toBe(false)
    expect(warn).not.toHaveBeenCalled()
  })

  it('a restore that had to refresh does not refresh again at once', async () => {
    const a = fakeApi()
    const me = answer({ session_timeout: 3600, expires_in: undefined, token_expires: new Date(T0 + 900_000).toISOString() })
    a.api.get.mockRejectedValueOnce(new ApiError(401, 'unauthorized', 'expired')).mockResolvedValueOnce(me)
    a.api.refresh.mockResolvedValue('ok')
    const c = fakeClock()
    const s = createSession(a.asApi, c.clock)
    await s.restore()
    s.tick()
    expect(a.api.refresh).toHaveBeenCalledTimes(1)
    c.advance(840)
    s.tick()
    expect(a.api.refresh).toHaveBeenCalledTimes(2)
  })

  it('/me answers 401 and the refresh fails: nobody, quietly', async () => {
    const a = fakeApi()
    a.api.get.mockRejectedValue(new ApiError(401, 'unauthorized', 'expired'))
    a.api.refresh.mockResolvedValue('refused')
    const s = createSession(a.asApi, fakeClock().clock)
    await s.restore()
    expect(a.api.get).toHaveBeenCalledTimes(1)
    expect(s.state.user).toBeNull()
    expect(s.state.ended).toBe('')
    expect(s.state.restoring).toBe(false)
    expect(warn).not.toHaveBeenCalled()
  })

  it('a network failure: no refresh, nobody, a warning', async () => {
    const a = fakeApi()
    a.api.get.mockRejectedValue(new ApiError(0, 'network', 'down'))
    const s = createSession(a.asApi, fakeClock().clock)
    await s.restore()
    expect(a.api.refresh).not.toHaveBeenCalled()
    expect(s.state.user).toBeNull()
    expect(s.state.restoring).toBe(false)
    expect(warn).toHaveBeenCalled()
  })
})

describe('the live view signed out', () => {
  const probeOf = (...answers: (boolean | null)[]) => vi.fn<LiveViewProbe>(async () => answers.shift() ?? null)

  it.each([
    ['the panel (200)', [true], true],
    ['beyond the panel, or the live view off (401)', [false], false],
    ['no answer keeps the last one', [true, null], true],
    ['a refusal after a yes turns it off', [true, false], false],
  ])('%s', async (_name, answers, want) => {
    const c = fakeClock()
    const s = createSession(fakeApi().asApi, c.clock, () => {}, probeOf(...answers))
    expect(s.state.liveView).toBe(false) // until asked, the sign-in screen
    for (const _ of answers) await s.probeLiveView()
    expect(s.state.liveView).toBe(want)
  })

  it('offers an action to a signed-out panel, and to a user only with its permission', async () => {
    const c = fakeClock()
    const a = fakeApi()
    a.api.post.mockImplementation(async (path: string) => (path === '/api/auth/login' ? answer({ permissions: ['view_sensors'] }) : undefined))
    const s = createSession(a.asApi, c.clock, () => {}, probeOf(true))
    expect(s.offers('ack_alerts')).toBe(false) // not known to be the panel yet
    await s.probeLiveView()
    expect(s.offers('ack_alerts')).toBe(true) // touching it asks for a sign-in
    expect(s.can('ack_alerts')).toBe(false) // but nobody may do it
    await s.login('jan', 'pw', 'OPERATOR')
    expect(s.offers('ack_alerts')).toBe(false)
    expect(s.offers('view_sensors')).toBe(true)
  })

  it('whenSignedOut waits for the logout request, so the signed-out socket does not carry its cookie', async () => {
    const { s, api } = await signedIn()
    let release = () => {}
    api.post.mockImplementation(() => new Promise<undefined>((r) => (release = () => r(undefined))))
    let settled = false
    void s.logout('idle')
    void s.whenSignedOut().then(() => (settled = true))
    await flush()
    expect(s.state.user).toBeNull()
    expect(settled).toBe(false)
    release()
    await flush()
    expect(settled).toBe(true)
  })

  it('backToLiveView after SIGNIN_IDLE_MS untouched, signed out, on the live view only', async () => {
    const c = fakeClock()
    const s = createSession(fakeApi().asApi, c.clock, () => {}, probeOf(true))
    c.advance(SIGNIN_IDLE_MS / 1000)
    expect(s.backToLiveView()).toBe(false) // no live view known
    await s.probeLiveView()
    expect(s.backToLiveView()).toBe(true)
    s.touch()
    c.advance(SIGNIN_IDLE_MS / 1000 - 1)
    expect(s.backToLiveView()).toBe(false) // a touch a moment ago: someone is signing in
    c.advance(1)
    expect(s.backToLiveView()).toBe(true)
  })

  it.each([
    ['signed in, refresh ok: connect again', true, 'ok', [true], true, false],
    ['signed in, refresh refused: the session is over', true, 'refused', [true], false, true],
    ['signed out, still served: connect again (the refused refresh cleared the stale cookie)', false, 'refused', [true], true, false],
    ['signed out, no longer served: stop', false, 'refused', [false], false, false],
    ['signed out, no answer: keep trying', false, 'failed', [null], true, false],
  ] as const)('socket refused (4001): %s', async (_n, signIn, refresh, probes, again, ended) => {
    const c = fakeClock()
    const a = fakeApi()
    a.api.post.mockImplementation(async (path: string) => (path === '/api/auth/login' ? answer() : undefined))
    a.api.refresh.mockResolvedValue(refresh)
    const s = createSession(a.asApi, c.clock, () => {}, probeOf(true, ...probes))
    await s.probeLiveView()
    if (signIn) await s.login('jan', 'pw', 'OPERATOR')
    expect(await s.socketRefused()).toBe(again)
    expect(a.api.refresh).toHaveBeenCalledOnce()
    expect(s.state.ended === 'expired').toBe(ended)
  })
})
