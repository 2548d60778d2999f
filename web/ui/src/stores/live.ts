// Live readings over the WebSocket, with automatic reconnect.
//
// The store connects to /api/ws/sensors (the access cookie authenticates it), keeps the
// newest reading of each sensor and a few minutes of values for the sparklines, and hands
// alert frames to whoever listens. A reading is judged only with its sensor's settings: the
// frames that come before GET /api/sensors/current has answered wait for it. When no new poll
// round arrives for three intervals (3 s at the default 1 s) the connection counts as lost
// even if the socket looks open (a daemon that hangs): the screen says so rather than freeze
// silently; a reading older than two of its intervals (2 s at least) is stale on its tile.
// Reconnects back off from 0.5 s to 10 s with jitter.
import { reactive, readonly, type InjectionKey } from 'vue'
import type { Api } from '../lib/api'
import type { Alert } from './alerts'
import type { Lang } from '../lib/i18n'

/** STATUSES are a reading's judgement against its sensor's thresholds, as the server spells
 *  them (web/openapi.json, Status): "unknown" when there is no value to judge (a failed read). */
export const STATUSES = ['unknown', 'normal', 'warning', 'critical'] as const
export type Status = (typeof STATUSES)[number]
/** QUALITIES say whether a reading's value can be trusted (web/openapi.json, Quality). */
export const QUALITIES = ['good', 'bad'] as const
export type Quality = (typeof QUALITIES)[number]

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
  /** the name per language (GET /api/sensors/current, names); absent from older daemons */
  names?: Partial<Record<Lang, string>>
  unit: string
  range: [number, number]
  normal: [number, number]
  warning: [number, number]
  /** how often the sensor is read, seconds */
  interval?: number
}

export type LinkState = 'connecting' | 'live' | 'lost'

/** DEFAULT_SENSORS are drawn, empty, until the configuration has loaded. */
export const DEFAULT_SENSORS: readonly string[] = ['P1', 'P2', 'P3']
/** SPARK_SECONDS is how much history the sparklines show. */
export const SPARK_SECONDS = 300
/** STALE_MS without a new round counts as a lost connection, at least (frames come once
 *  per poll round; with slower sensors the wait is three of their intervals). */
export const STALE_MS = 3000
/** READING_STALE_MS is the least age at which a reading is stale (two of its sensor's
 *  intervals when they are longer). */
export const READING_STALE_MS = 2000
/** WATCHDOG_MS is how often the stale check runs: a lost link shows within STALE_MS plus this. */
const WATCHDOG_MS = 250
/** META_RETRY_MS is the wait before the settings are asked for again after a failure. */
const META_RETRY_MS = 2000
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
  /** onOpen runs whenever a socket opens, the first included: alert frames may have been
   *  missed before it (or while away), so whoever keeps alerts reloads them */
  onOpen?: () => void
  /** onAuthFailed runs on close code 4001; resolves true when a refresh made the session good */
  onAuthFailed?: () => Promise<boolean>
  random?: () => number
}

interface CurrentAnswer {
  order: string[]
  sensors: Record<string, Reading & Omit<SensorMeta, 'id'>>
}

interface HistoryAnswer {
  /** a reading, or a bucket of them whose quality is bad if any of its readings was */
  points: { value: number | null; quality?: Quality; timestamp: string }[]
}

/** readingAge is how old a reading is at now (the device's time, ms); null without one, or for
 *  the placeholder of a sensor not read yet (its time is Go's zero time, year 1). */
export function readingAge(r: Pick<Reading, 'timestamp'> | undefined, now: number): number | null {
  const t = r ? Date.parse(r.timestamp) : NaN
  return Number.isFinite(t) && t > 0 ? Math.max(0, now - t) : null
}

/** readingStale tells a reading older than two of its sensor's intervals, READING_STALE_MS at
 *  least: no newer one came (a daemon that hangs, a sensor no longer polled). */
export function readingStale(r: Pick<Reading, 'timestamp'> | undefined, meta: Pick<SensorMeta, 'interval'> | undefined, now: number): boolean {
  const age = readingAge(r, now)
  return age !== null && age > Math.max(READING_STALE_MS, 2 * (meta?.interval ?? 0) * 1000)
}

/** sparkPoint is a reading's point on a sparkline: a bad one is a gap, never its number. */
function sparkPoint(p: { value: number | null; quality?: Quality; timestamp: string }): [number, number | null] {
  return [Date.parse(p.timestamp), p.quality === 'bad' ? null : p.value]
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
  let sinceFresh = 0 // when the socket was made or the last new round came, ms
  let lastSeq = -1 // the newest round seen; a round seen before proves nothing is polled
  let offset = 0 // the device's clock minus this browser's, ms, from the frames' ts
  let metaLoaded = false // the sensors' settings have come: readings can be judged
  let held: [string, Reading][] | null = null // the newest frame's readings that came before them
  let running = false
  let generation = 0 // counts start(): a callback of an earlier run does nothing
  let retryTimer: ReturnType<typeof setTimeout> | null = null
  let watchdog: ReturnType<typeof setInterval> | null = null
  let metaTimer: ReturnType<typeof setTimeout> | null = null

  /** serverNow is the device's time: sparklines and trends compare it with the readings'
   *  timestamps, and a phone's clock need not agree with the device's. */
  const serverNow = () => now() + offset

  /** staleMs is how long without a new round counts as lost: a round comes whenever any
   *  sensor is due, so three of the fastest sensor's intervals, and never less than STALE_MS. */
  function staleMs() {
    let fastest = Infinity
    for (const m of Object.values(state.meta)) if (m.interval) fastest = Math.min(fastest, m.interval)
    return Number.isFinite(fastest) ? Math.max(STALE_MS, 3 * fastest * 1000) : STALE_MS
  }

  async function loadMeta(gen: number) {
    const cur = await opts.api.get<CurrentAnswer>('/api/sensors/current')
    if (gen !== generation) return // signed out meanwhile: the next user starts from nothing
    state.order = cur.order
    for (const id of cur.order) {
      const s = cur.sensors[id]
      state.meta[id] = {
        id, name: s.name, names: s.names, unit: s.unit, range: s.range, normal: s.normal, warning: s.warning, interval: s.interval,
      }
      if (!state.readings[id]) state.readings[id] = s
    }
    metaLoaded = true
    if (held) applyReadings(held)
    held = null
  }

  /** backfill loads the sparklines' minutes from the history, which also fills a gap the
   *  page was away for; the frames that came meanwhile are kept after it. */
  async function backfill(gen: number) {
    const start = new Date(serverNow() - SPARK_SECONDS * 1000).toISOString()
    await Promise.all(
      state.order.map(async (id) => {
        const h = await opts.api.get<HistoryAnswer>(
          `/api/sensors/${encodeURIComponent(id)}/history?start_time=${start}&max_points=${SPARK_SECONDS}`,
        )
        if (gen !== generation) return
        const old = h.points.map(sparkPoint)
        const last = old.length ? old[old.length - 1][0] : -Infinity
        state.spark[id] = old.concat((state.spark[id] ?? []).filter((p) => p[0] > last))
      }),
    )
  }

  /** reload loads the settings and the sparklines' minutes; while the settings have never
   *  come it tries again every META_RETRY_MS, since readings wait for them. */
  function reload(gen: number) {
    void loadMeta(gen)
      .then(() => backfill(gen))
      .catch((e) => {
        console.warn('live: reload after connect:', e)
        if (!metaLoaded && running && gen === generation) metaTimer = setTimeout(() => reload(gen), META_RETRY_MS)
      })
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
    if (f.type === 'alert') {
      opts.onAlert?.(f.alert as Alert)
      return
    }
    if (f.type !== 'sensors') return
    if (typeof f.ts === 'number') offset = f.ts * 1000 - now()
    const entries = Object.entries(f).filter(([, v]) => v && typeof v === 'object') as [string, Reading][]
    // Only a round not seen before counts as live data. The first frame of a connection is
    // the hub's newest round, which is old news when polling has stopped; a daemon that has
    // just started sends nothing until its first round.
    if (f.seq === lastSeq || entries.length === 0) return
    lastSeq = f.seq as number
    // The first round after a (re)start is new to this page but may be hours old, if polling
    // has stopped: its newest reading, against the frame's send time (both the device's
    // clock), tells.
    if (typeof f.ts === 'number') {
      const newest = Math.max(...entries.map(([, r]) => Date.parse(r.timestamp)))
      if (f.ts * 1000 - newest > staleMs()) return
    }
    sinceFresh = now()
    if (state.link !== 'live') {
      state.link = 'live'
      state.attempts = 0
      state.retryAt = 0
    }
    // Before the settings have come a reading would be judged without its limits and range
    // (a fault, then critical a moment later): the newest waits for them.
    if (metaLoaded) applyReadings(entries)
    else held = entries
  }

  function applyReadings(entries: [string, Reading][]) {
    const cut = serverNow() - SPARK_SECONDS * 1000
    for (const [id, r] of entries) {
      state.readings[id] = r
      if (!state.order.includes(id)) state.order.push(id)
      const s = (state.spark[id] ??= [])
      s.push(sparkPoint(r))
      while (s.length && s[0][0] < cut) s.shift()
    }
  }

  function connect() {
    if (!running) return
    retryTimer = null
    state.retryAt = 0
    state.link = state.attempts > 0 || lastSeq >= 0 ? 'lost' : 'connecting'
    let socket: WebSocket
    try {
      socket = new WS(opts.url ?? defaultURL())
    } catch {
      scheduleRetry(0)
      return
    }
    ws = socket
    sinceFresh = now()
    const gen = generation
    socket.onopen = () => {
      if (ws !== socket) return
      // Frames may have been missed while away (or before this socket, on the first one):
      // reload what they would have told.
      reload(gen)
      opts.onOpen?.()
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
        void opts.onAuthFailed().then((ok) => {
          if (gen !== generation) return // signed out (and maybe in again) meanwhile
          if (ok) scheduleRetry(ev.code)
          else stop()
        })
        return
      }
      scheduleRetry(ev.code)
    }
  }

  function scheduleRetry(code: number) {
    if (!running || retryTimer || ws) return
    state.link = 'lost'
    state.closeCode = code
    state.attempts++
    const wait = backoff(state.attempts, random)
    state.retryAt = now() + wait
    retryTimer = setTimeout(connect, wait)
  }

  function checkStale() {
    if (running && ws && now() - sinceFresh > staleMs()) {
      // The socket looks open, or is still opening, but no new round comes (a half-open
      // connection, a daemon that hangs, polling that stopped): drop it and connect again.
      const s = ws
      ws = null
      s.close()
      scheduleRetry(0)
    }
  }

  /** stop closes the connection and forgets the data: the next user starts from nothing. */
  function stop() {
    running = false
    generation++
    if (retryTimer) clearTimeout(retryTimer)
    if (watchdog) clearInterval(watchdog)
    if (metaTimer) clearTimeout(metaTimer)
    metaTimer = null
    retryTimer = null
    watchdog = null
    const s = ws
    ws = null
    s?.close(1000)
    Object.assign(state, {
      link: 'connecting', order: [], meta: {}, readings: {}, spark: {},
      lastFrame: 0, attempts: 0, retryAt: 0, closeCode: 0,
    })
    lastSeq = -1
    metaLoaded = false
    held = null
  }

  return {
    state: readonly(state) as Readonly<LiveState>,
    serverNow,
    start() {
      if (running) return
      running = true
      generation++
      watchdog = setInterval(checkStale, WATCHDOG_MS)
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
