// The signed-in user, the silent refresh of the access token, the idle timeout, and whether
// the panel shows its live view while nobody is signed in.
//
// The tokens themselves never reach this code: the server keeps them in HttpOnly cookies.
// The store knows who is signed in, refreshes the access cookie a minute before it expires,
// and ends the session after the role's idle timeout without a touch, showing a countdown
// for the last minute first.
import { reactive, readonly, type InjectionKey } from 'vue'
import { ApiError, CSRF_COOKIE, type Api } from '../lib/api'

/** ROLES are the accounts' roles, in the order of the sign-in tiles (web/openapi.json, Role). */
export const ROLES = ['OPERATOR', 'ADMIN', 'SUPERUSER', 'SERWISANT'] as const
export type Role = (typeof ROLES)[number]
/** The role colours of DESIGN.md, for the sign-in tiles drawn before anyone is signed in. */
export const ROLE_COLORS: Readonly<Record<Role, string>> = {
  OPERATOR: '#27ae60',
  ADMIN: '#f39c12',
  SUPERUSER: '#e74c3c',
  SERWISANT: '#3498db',
}

export interface User {
  username: string
  role: Role
  permissions: string[]
  color: string
  /** the role's idle timeout, seconds */
  sessionTimeout: number
}

/** Why the last session ended, for the sign-in screen to say. */
export type EndReason = '' | 'signed_out' | 'idle' | 'expired'

/** WARN_SECONDS is how long before the idle timeout the countdown shows. */
export const WARN_SECONDS = 60
/** ACCESS_TTL_MS is how long an access token lasts (web/auth.AccessTTL). */
export const ACCESS_TTL_MS = 15 * 60_000
/** REFRESH_RETRY_MS is the wait after a refresh that got no answer. */
export const REFRESH_RETRY_MS = 5000
/** SIGNIN_IDLE_MS is how long the sign-in screen waits untouched, while nobody is signed in,
 *  before the panel goes back to its live view. */
export const SIGNIN_IDLE_MS = 60_000

/** LiveViewProbe asks the server, without credentials, whether it serves the live data to
 *  this page signed out (the LCD's panel, with http.panel_live_view on): true on 200, false
 *  on a refusal, null when the device did not answer. */
export type LiveViewProbe = () => Promise<boolean | null>

/** probeCurrent is the LiveViewProbe of the page: GET /api/sensors/current with no cookie,
 *  so a stale session cannot answer for the panel. */
export const probeCurrent: LiveViewProbe = async () => {
  try {
    const r = await fetch('/api/sensors/current', { credentials: 'omit', cache: 'no-store', headers: { Accept: 'application/json' } })
    void r.arrayBuffer().catch(() => {})
    return r.ok
  } catch {
    return null
  }
}

export interface SessionClock {
  now(): number // ms
  setInterval(fn: () => void, ms: number): unknown
  clearInterval(id: unknown): void
}

const realClock: SessionClock = {
  now: () => Date.now(),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id as ReturnType<typeof setInterval>),
}

interface TokenAnswer {
  username: string
  role: Role
  permissions: string[]
  color: string
  session_timeout: number
  expires_in?: number
  token_expires?: string
}

export interface SessionState {
  user: User | null
  /** seconds left before the idle timeout ends the session; shown when <= WARN_SECONDS */
  idleLeft: number
  ended: EndReason
  /** true until restore() has asked the server whether a session exists */
  restoring: boolean
  /** the server shows this page the live data while nobody is signed in (the panel's live
   *  view): from the last probeLiveView() that got an answer */
  liveView: boolean
}

function expireCSRFCookie() {
  if (typeof document !== 'undefined') document.cookie = `${CSRF_COOKIE}=; Max-Age=0; Path=/; SameSite=Strict`
}

export function createSession(
  api: Api,
  clock: SessionClock = realClock,
  forgetCookie: () => void = expireCSRFCookie,
  probe: LiveViewProbe = probeCurrent,
) {
  const state = reactive<SessionState>({ user: null, idleLeft: Infinity, ended: '', restoring: true, liveView: false })
  let signedOut: Promise<void> = Promise.resolve() // the last logout's request, settled
  let lastActivity = clock.now()
  let accessExpires = 0 // ms; 0 when unknown
  let timer: unknown = null
  let refreshing = false
  let retryRefreshAt = 0 // ms: after a refresh that got no answer, when to try again

  /** start begins a session; refreshed tells that the access token was just renewed */
  function start(a: TokenAnswer, refreshed = false) {
    state.user = {
      username: a.username,
      role: a.role,
      permissions: a.permissions ?? [],
      color: a.color,
      sessionTimeout: a.session_timeout,
    }
    state.ended = ''
    lastActivity = clock.now()
    if (a.expires_in) accessExpires = clock.now() + a.expires_in * 1000
    // After a reload (/api/auth/me) only the server's expiry time is known, and the device's
    // clock need not agree with this browser's: refresh at once, then count from here.
    else if (a.token_expires) accessExpires = refreshed ? clock.now() + ACCESS_TTL_MS : clock.now()
    else accessExpires = 0
    retryRefreshAt = 0
    tick()
    if (timer === null) timer = clock.setInterval(tick, 1000)
  }

  function stop(reason: EndReason) {
    state.user = null
    state.idleLeft = Infinity
    state.ended = reason
    accessExpires = 0
    if (timer !== null) {
      clock.clearInterval(timer)
      timer = null
    }
  }

  function tick() {
    const u = state.user
    if (!u) return
    const now = clock.now()
    state.idleLeft = Math.max(0, Math.ceil(u.sessionTimeout - (now - lastActivity) / 1000))
    if (state.idleLeft === 0) {
      void logout('idle')
      return
    }
    // Refresh a minute before the access token runs out, so no request ever meets a 401.
    if (accessExpires && now >= accessExpires - 60_000 && now >= retryRefreshAt && !refreshing) {
      refreshing = true
      void api
        .refresh()
        .then((r) => {
          if (!state.user) return
          if (r === 'ok') accessExpires = clock.now() + ACCESS_TTL_MS
          else if (r === 'refused') stop('expired')
          // No answer (the daemon restarts, the Wi-Fi drops): the session may be fine, so
          // keep it and try again in a while; the overlay tells about the lost link.
          else retryRefreshAt = clock.now() + REFRESH_RETRY_MS
        })
        .finally(() => (refreshing = false))
    }
  }

  /** probeLiveView asks the server whether the page may show the live view signed out,
   *  and keeps the answer; with no answer (null) the last one stays */
  async function probeLiveView(): Promise<boolean | null> {
    const ok = await probe()
    if (ok !== null) state.liveView = ok
    return ok
  }

  function can(permission: string): boolean {
    const p = state.user?.permissions ?? []
    return p.includes(permission) || p.includes('full_system_access')
  }

  function logout(reason: EndReason = 'signed_out'): Promise<void> {
    if (!state.user) return signedOut
    stop(reason)
    signedOut = api.post('/api/auth/logout').then(
      () => {},
      // Signed out here anyway; the server ends the session on its own idle timeout. The
      // page forgets the session's CSRF cookie, so a reload does not restore it.
      () => forgetCookie(),
    )
    return signedOut
  }

  return {
    state: readonly(state) as Readonly<SessionState>,

    /** login signs in with a password, or with a PIN (the panel only); an ApiError says why
     *  not (the sign-in screen explains it) */
    async login(username: string, secret: string, role: Role, kind: 'password' | 'pin' = 'password'): Promise<User> {
      const body = kind === 'pin' ? { username, pin: secret, role } : { username, password: secret, role }
      const a = await api.post<TokenAnswer>('/api/auth/login', body)
      start(a)
      return state.user!
    },

    /** restore asks the server whether the cookies still hold a session (after a reload);
     *  hasSession tells whether the browser holds a session's cookies at all */
    async restore(hasSession: () => boolean = () => true): Promise<void> {
      try {
        // Without the CSRF cookie there is no session to ask about (it lives as long as the
        // refresh cookie): skip the request, which would only answer 401.
        if (!hasSession()) return stop('')
        let me: TokenAnswer
        let refreshed = false
        try {
          me = await api.get<TokenAnswer>('/api/auth/me')
        } catch (e) {
          // The access cookie lasts 15 min; the refresh cookie may still hold the session.
          if (!(e instanceof ApiError) || e.status !== 401 || (await api.refresh()) !== 'ok') throw e
          refreshed = true
          me = await api.get<TokenAnswer>('/api/auth/me')
        }
        start(me, refreshed)
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 401) console.warn('restore session:', e)
        stop('')
      } finally {
        state.restoring = false
      }
    },

    logout,

    /** lost is called when the server refuses the session (a failed refresh) */
    lost() {
      if (state.user) stop('expired')
    },

    /** touch records a user action: the idle timeout starts again */
    touch() {
      lastActivity = clock.now()
      if (state.user && state.idleLeft <= WARN_SECONDS) tick()
    },

    can,

    /** offers tells whether an action needing permission is shown: to a user who may do it,
     *  and on the panel's live view to nobody in particular, where touching it asks for a
     *  sign-in */
    offers(permission: string): boolean {
      return state.user ? can(permission) : state.liveView
    },

    probeLiveView,

    /** socketRefused is what the live socket does on close code 4001 (refused for its
     *  credentials); it resolves true when connecting again may help. Signed in, a refresh
     *  may renew the session; if the server refuses it the session is over. Signed out, the
     *  cookie of an ended session may linger (its token wins over the live view): the refused
     *  refresh makes the server clear it, and the live view goes on while the server serves it. */
    async socketRefused(): Promise<boolean> {
      const r = await api.refresh()
      if (state.user) {
        if (r === 'refused') stop('expired')
        return r !== 'refused'
      }
      return (await probeLiveView()) !== false
    },

    /** whenSignedOut resolves once the last logout's request has settled, so that nothing
     *  signed-out starts while the server still holds that session's cookies */
    whenSignedOut(): Promise<void> {
      return signedOut
    },

    /** backToLiveView tells whether the sign-in screen, untouched for SIGNIN_IDLE_MS while
     *  nobody is signed in, should give way to the live view */
    backToLiveView(): boolean {
      return !state.user && state.liveView && clock.now() - lastActivity >= SIGNIN_IDLE_MS
    },

    /** tick runs the timers once; tests call it after moving their clock */
    tick,
  }
}

export type Session = ReturnType<typeof createSession>
export const SESSION: InjectionKey<Session> = Symbol('session')
