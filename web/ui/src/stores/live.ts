// Live readings over the WebSocket, with automatic reconnect.
//
// The store connects to /api/ws/sensors (the access cookie authenticates it), keeps the
// newest reading of each sensor and a few minutes of values for the sparklines, and hands
// alert frames to whoever listens. When no frame arrives for STALE_MS the connection counts
// as lost even if the socket looks open: the screen says so rather than freeze silently.
// Reconnects back off from 0.5 s to 10 s with jitter.
import { reactive, readonly, type InjectionKey } from 'vue'
import type { Api } from '../lib/api'
import type { Alert } from './alerts'

export type Status = 'normal' | 'warning' | 'critical'
export type Quality = 'good' | 'bad' | 'uncertain'

export interface Reading {
  value: number | null
  unit: string
  status: Status
  quality: Quality
  fault?: string
  timestamp: string
}

/** SensorMeta is what the UI needs to draw a sensor: from GET /api/sensors/current. */
export interface SensorMeta {
  id: string
  name: string
  unit: string
  range: [number, number]
  normal: [number, number]
  warning: [number, number]
}

export type LinkState = 'connecting' | 'live' | 'lost'

/** SPARK_SECONDS is how much history the sparklines show. */
export const SPARK_SECONDS = 300
/** STALE_MS without a frame counts as a lost connection (frames come every second). */
export const STALE_MS = 5000
const BACKOFF_MIN_MS = 500
const BACKOFF_MAX_MS = 10_000

export interface LiveState {
  link: LinkState
  /** the sensors in the configuration's order */
  order: string[]
  meta: Record<string, SensorMeta>
  readings: Record<string, Reading>
  /** per sensor, [unix ms, value or null] pairs of the last SPARK_SECONDS */
  spark: Record<string, [number, number | null][]>
  /** when the newest frame arrived, ms; 0 before the first */
  lastFrame: number
  /** reconnect attempts since the link was last live */
  attempts: number
  /** when the next attempt starts, ms; 0 while connected or connecting */
  retryAt: number
  /** the last close code, for the overlay */
  closeCode: number
}

export interface LiveOptions {
  api: Api
  url?: string
  WebSocket?: typeof WebSocket
  now?: () => number
  /** onAlert receives every alert frame */
  onAlert?: (a: Alert) => void
  /** onReconnect runs after a reconnect, to reload what frames may have been missed */
  onReconnect?: () => void
  /** onAuthFailed runs on close code 4001; resolves true when a refresh made the session good */
  onAuthFailed?: () => Promise<boolean>
  random?: () => number
}

interface CurrentAnswer {
  order: string[]
  sensors: Record<string, Reading & { name: string; range: [number, number]; normal: [number, number]; warning: [number, number] }>
}

interface HistoryAnswer {
  points: { value: number | null; timestamp: string }[]
}

/** backoff is the wait before reconnect attempt n (1-based), with +-20 % jitter, never over
 *  BACKOFF_MAX_MS. */
export function backoff(n: number, random: () => number = Math.random): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, n - 1))
  return Math.min(BACKOFF_MAX_MS, Math.round(base * (0.8 + 0.4 * random())))
}

function defaultURL(): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${proto}//${location.host}/api/ws/sensors`
}

export function createLive(opts: LiveOptions) {
  const now = opts.now ?? (() => Date.now())
  const WS = opts.WebSocket ?? WebSocket
  const random = opts.random ?? Math.random
  const state = reactive<LiveState>({
    link: 'connecting', order: [], meta: {}, readings: {}, spark: {},
    lastFrame: 0, attempts: 0, retryAt: 0, closeCode: 0,
  })
  let ws: WebSocket | null = null
  let sinceFrame = 0 // when the socket was made or its last frame came, ms
  let running = false
  let everLive = false
  let retryTimer: ReturnType<typeof setTimeout> | null = null
  let watchdog: ReturnType<typeof setInterval> | null = null

  async function loadMeta() {
    const cur = await opts.api.get<CurrentAnswer>('/api/sensors/current')
    state.order = cur.order
    for (const id of cur.order) {
      const s = cur.sensors[id]
      state.meta[id] = { id, name: s.name, unit: s.unit, range: s.range, normal: s.normal, warning: s.warning }
      if (!state.readings[id]) state.readings[id] = s
    }
  }

  async function backfill() {
    const end = now()
    const start = new Date(end - SPARK_SECONDS * 1000).toISOString()
    await Promise.all(
      state.order.map(async (id) => {
        const h = await opts.api.get<HistoryAnswer>(
          `/api/sensors/${encodeURIComponent(id)}/history?start_time=${start}&max_points=${SPARK_SECONDS}`,
        )
        const old: [number, number | null][] = h.points.map((p) => [Date.parse(p.timestamp), p.value])
        const live = state.spark[id] ?? []
        const first = live.length ? live[0][0] : Infinity
        state.spark[id] = old.filter((p) => p[0] < first).concat(live)
      }),
    )
  }

  function applyFrame(data: string) {
    let f: Record<string, unknown>
    try {
      f = JSON.parse(data)
    } catch {
      console.warn('live: frame is not JSON')
      return
    }
    state.lastFrame = now()
    sinceFrame = state.lastFrame
    if (f.type === 'alert') {
      opts.onAlert?.(f.alert as Alert)
      return
    }
    if (f.type !== 'sensors') return
    if (state.link !== 'live') {
      state.link = 'live'
      state.attempts = 0
      state.retryAt = 0
    }
    const cut = now() - SPARK_SECONDS * 1000
    for (const [id, v] of Object.entries(f)) {
      if (!v || typeof v !== 'object') continue
      const r = v as Reading
      state.readings[id] = r
      if (!state.order.includes(id)) state.order.push(id)
      const s = (state.spark[id] ??= [])
      s.push([Date.parse(r.timestamp), r.quality === 'bad' ? null : r.value])
      while (s.length && s[0][0] < cut) s.shift()
    }
  }

  function connect() {
    if (!running) return
    retryTimer = null
    state.retryAt = 0
    state.link = state.attempts > 0 || everLive ? 'lost' : 'connecting'
    let socket: WebSocket
    try {
      socket = new WS(opts.url ?? defaultURL())
    } catch {
      scheduleRetry(0)
      return
    }
    ws = socket
    sinceFrame = now()
    socket.onopen = () => {
      // Frames may have been missed while away: reload what they would have told.
      void loadMeta()
        .then(backfill)
        .catch((e) => console.warn('live: reload after connect:', e))
      if (everLive) opts.onReconnect?.()
      everLive = true
    }
    socket.onmessage = (ev) => {
      if (ws === socket) applyFrame(String(ev.data))
    }
    socket.onclose = (ev) => {
      if (ws !== socket) return
      ws = null
      state.closeCode = ev.code
      if (!running) return
      if (ev.code === 4001 && opts.onAuthFailed) {
        state.link = 'lost'
        void opts.onAuthFailed().then((ok) => (ok ? scheduleRetry(ev.code) : stop()))
        return
      }
      scheduleRetry(ev.code)
    }
  }

  function scheduleRetry(code: number) {
    if (!running || retryTimer) return
    state.link = 'lost'
    state.closeCode = code
    state.attempts++
    const wait = backoff(state.attempts, random)
    state.retryAt = now() + wait
    retryTimer = setTimeout(connect, wait)
  }

  function checkStale() {
    if (running && ws && now() - sinceFrame > STALE_MS) {
      // The socket looks open, or is still opening, but nothing comes (a half-open
      // connection, a daemon that hangs): drop it and connect again.
      const s = ws
      ws = null
      s.close()
      scheduleRetry(0)
    }
  }

  function stop() {
    running = false
    if (retryTimer) clearTimeout(retryTimer)
    if (watchdog) clearInterval(watchdog)
    retryTimer = null
    watchdog = null
    const s = ws
    ws = null
    s?.close(1000)
    state.link = 'connecting'
    state.attempts = 0
    state.retryAt = 0
  }

  return {
    state: readonly(state) as Readonly<LiveState>,
    start() {
      if (running) return
      running = true
      everLive = false
      watchdog = setInterval(checkStale, 1000)
      connect()
    },
    stop,
    /** retryNow skips the backoff wait (the overlay's button) */
    retryNow() {
      if (!running || !retryTimer) return
      clearTimeout(retryTimer)
      connect()
    },
    /** the frame handler and the stale check, for tests */
    applyFrame,
    checkStale,
  }
}

export type Live = ReturnType<typeof createLive>
export const LIVE: InjectionKey<Live> = Symbol('live')
