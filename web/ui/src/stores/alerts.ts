// Alerts: the open ones (everything not CLOSED), kept current by the WebSocket's alert
// frames, and acknowledgement.
import { computed, reactive, readonly, type InjectionKey } from 'vue'
import { ApiError, type Api } from '../lib/api'

/** ALERT_TYPES are what an alert is about (web/openapi.json, AlertType). A DEVICE_FAULT is
 *  about the device itself (its sensor_id names the part, e.g. storage); it is latched:
 *  acknowledging it closes it. */
export const ALERT_TYPES = ['WARNING', 'CRITICAL', 'SENSOR_FAULT', 'DEVICE_FAULT'] as const
export type AlertType = (typeof ALERT_TYPES)[number]
/** ALERT_STATES are an alert's life, in order (web/openapi.json, AlertState). */
export const ALERT_STATES = ['ACTIVE_UNACK', 'ACTIVE_ACK', 'CLEARED_UNACK', 'CLOSED'] as const
export type AlertState = (typeof ALERT_STATES)[number]

/** Alert is an alert as GET /api/alerts/{id} and the alert frames spell it. */
export interface Alert {
  id: number
  sensor_id: string
  type: AlertType
  state: AlertState
  message: string
  /** the trip of the alert's type: for a warning that escalated, the critical crossing */
  value: number | null
  threshold: number | null
  /** the crossing that opened it (or its last reactivation) */
  first_value?: number | null
  first_threshold?: number | null
  opened_at: string
  /** set when a warning escalated to critical; escalated_value and escalated_threshold are
   *  that crossing's (value and threshold repeat them) */
  escalated_at: string | null
  escalated_value?: number | null
  escalated_threshold?: number | null
  cleared_at: string | null
  acked_by: string
  acked_at: string | null
  comment: string
  reactivations: number
  updated_at: string
}

export interface AlertFilter {
  states?: AlertState[]
  sensorId?: string
  since?: string
  until?: string
  beforeId?: number
  limit?: number
}

export interface AlertPage {
  alerts: Alert[]
  next_before_id: number | null
}

export const OPEN_STATES: readonly AlertState[] = ['ACTIVE_UNACK', 'ACTIVE_ACK', 'CLEARED_UNACK']

const severity: Record<AlertType, number> = { CRITICAL: 0, DEVICE_FAULT: 1, SENSOR_FAULT: 2, WARNING: 3 }

/** URGENT are the types whose unacknowledged alerts take the banner on every screen: a
 *  critical pressure, and a fault of the device itself (the database replaced at start),
 *  which no reading shows. */
export const URGENT: ReadonlySet<AlertType> = new Set(['CRITICAL', 'DEVICE_FAULT'])

/** needsAck tells an alert that waits for someone to acknowledge it. */
export function needsAck(a: Alert): boolean {
  return a.state === 'ACTIVE_UNACK' || a.state === 'CLEARED_UNACK'
}

/** byUrgency orders open alerts: critical first, then unacknowledged, then newest. */
export function byUrgency(a: Alert, b: Alert): number {
  return (
    severity[a.type] - severity[b.type] ||
    Number(needsAck(b)) - Number(needsAck(a)) ||
    Date.parse(b.opened_at) - Date.parse(a.opened_at) ||
    b.id - a.id
  )
}

/** alertQuery spells a filter as the query of GET /api/alerts. */
export function alertQuery(f: AlertFilter): string {
  const q = new URLSearchParams()
  if (f.states?.length) q.set('state', f.states.join(','))
  if (f.sensorId) q.set('sensor_id', f.sensorId)
  if (f.since) q.set('since', f.since)
  if (f.until) q.set('until', f.until)
  if (f.beforeId) q.set('before_id', String(f.beforeId))
  q.set('limit', String(f.limit ?? 50))
  return q.toString()
}

/** How many alerts' last frames the store remembers, to judge REST answers against. A
 *  request lasts seconds; this many frames take far longer. */
const FRAME_MEMORY = 1000
const LOAD_RETRY_MIN_MS = 2000
const LOAD_RETRY_MAX_MS = 30_000

export function createAlerts(api: Api) {
  // error is the last failed load's message, errorCode its ApiError code ('' for others).
  const state = reactive({ open: new Map<number, Alert>(), loaded: false, error: '', errorCode: '' })
  // The hub sends alert frames in the order the changes were committed, so a frame always
  // wins over what the store holds. A REST answer (a load, an acknowledgement) may have been
  // built before a frame that came first: it counts only for alerts without a frame since
  // the request went out. updated_at cannot order them: a change caused by a reading carries
  // the reading's time, an acknowledgement the wall clock's.
  let frames = 0 // frames applied so far
  const lastFrame = new Map<number, number>() // alert id → frames when its last frame came
  let generation = 0 // counts clear(): an answer to a request of an earlier sign-in is dropped
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  let retries = 0

  function put(a: Alert) {
    if (a.state === 'CLOSED') state.open.delete(a.id)
    else state.open.set(a.id, a)
  }

  /** apply takes an alert frame from the WebSocket. */
  function apply(a: Alert) {
    frames++
    lastFrame.delete(a.id) // re-inserted last: the map's order is the frames' order
    lastFrame.set(a.id, frames)
    if (lastFrame.size > FRAME_MEMORY) lastFrame.delete(lastFrame.keys().next().value!)
    put(a)
  }

  /** fresh tells whether a REST answer about alert id, asked when frames stood at mark, is
   *  newer than every frame about it. */
  const fresh = (id: number, mark: number) => (lastFrame.get(id) ?? 0) <= mark

  const active = computed(() => [...state.open.values()].sort(byUrgency))
  const unacked = computed(() => active.value.filter(needsAck).length)
  const urgentUnacked = computed(() => active.value.filter((a) => URGENT.has(a.type) && needsAck(a)))

  /** load fetches every open alert; the frames keep the list current after that. A failed
   *  load is tried again with backoff until it succeeds or the user signs out: until then the
   *  header cannot say how many alerts there are. */
  async function load() {
    clearTimeout(retryTimer)
    const gen = generation
    const mark = frames
    try {
      const page = await api.get<AlertPage>('/api/alerts?' + alertQuery({ states: [...OPEN_STATES], limit: 1000 }))
      if (gen !== generation) return
      const seen = new Set(page.alerts.map((a) => a.id))
      for (const id of [...state.open.keys()]) if (!seen.has(id) && fresh(id, mark)) state.open.delete(id)
      for (const a of page.alerts) if (fresh(a.id, mark)) put(a)
      state.loaded = true
      state.error = ''
      state.errorCode = ''
      retries = 0
    } catch (e) {
      if (gen !== generation) return
      state.error = (e as Error).message
      state.errorCode = e instanceof ApiError ? e.code : ''
      retries++
      clearTimeout(retryTimer) // two loads failing together leave one timer, not two
      const wait = Math.min(LOAD_RETRY_MAX_MS, LOAD_RETRY_MIN_MS * 2 ** (retries - 1))
      retryTimer = setTimeout(() => void load(), wait)
    }
  }

  return {
    state: readonly(state),
    active,
    unacked,
    /** the unacknowledged alerts of the banner (URGENT), most urgent first */
    urgentUnacked,
    apply,
    load,
    async ack(id: number, comment = ''): Promise<Alert> {
      const mark = frames
      const a = await api.post<Alert>(`/api/alerts/${id}/ack`, comment ? { comment } : {})
      if (fresh(a.id, mark)) put(a)
      return a
    },
    /** history pages through every alert, newest first */
    history(f: AlertFilter): Promise<AlertPage> {
      return api.get<AlertPage>('/api/alerts?' + alertQuery(f))
    },
    /** clear forgets everything, at sign-out */
    clear() {
      generation++
      clearTimeout(retryTimer)
      retries = 0
      state.open.clear()
      lastFrame.clear()
      state.loaded = false
      state.error = ''
      state.errorCode = ''
    },
  }
}

export type Alerts = ReturnType<typeof createAlerts>
export const ALERTS: InjectionKey<Alerts> = Symbol('alerts')

/** ACK opens the acknowledge dialog for an alert (provided by App.vue). */
export const ACK: InjectionKey<(a: Alert) => void> = Symbol('ack')
