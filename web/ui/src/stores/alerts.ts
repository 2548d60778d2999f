// Alerts: the open ones (everything not CLOSED), kept current by the WebSocket's alert
// frames, and acknowledgement.
import { computed, reactive, readonly, type InjectionKey } from 'vue'
import type { Api } from '../lib/api'

export type AlertType = 'WARNING' | 'CRITICAL' | 'SENSOR_FAULT'
export type AlertState = 'ACTIVE_UNACK' | 'ACTIVE_ACK' | 'CLEARED_UNACK' | 'CLOSED'

/** Alert is an alert as GET /api/alerts/{id} and the alert frames spell it. */
export interface Alert {
  id: number
  sensor_id: string
  type: AlertType
  state: AlertState
  message: string
  value: number | null
  threshold: number | null
  opened_at: string
  /** set when a warning escalated to critical; escalated_value and escalated_threshold are
   *  that crossing's, while value and threshold stay the opening one's */
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

const severity: Record<AlertType, number> = { CRITICAL: 0, SENSOR_FAULT: 1, WARNING: 2 }

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

export function createAlerts(api: Api) {
  const state = reactive({ open: new Map<number, Alert>(), loaded: false, error: '' })
  // When each closed alert closed: a late, older copy of it must not reopen it.
  const closedAt = new Map<number, number>()
  // Frames and answers may arrive out of order: the newer updated_at wins.
  function apply(a: Alert) {
    const at = Date.parse(a.updated_at)
    const have = state.open.get(a.id)
    if (have && Date.parse(have.updated_at) > at) return
    if ((closedAt.get(a.id) ?? -Infinity) >= at) return
    if (a.state === 'CLOSED') {
      state.open.delete(a.id)
      closedAt.set(a.id, at)
    } else {
      state.open.set(a.id, a)
    }
  }
  const active = computed(() => [...state.open.values()].sort(byUrgency))
  const unacked = computed(() => active.value.filter(needsAck).length)
  const criticalUnacked = computed(() => active.value.filter((a) => a.type === 'CRITICAL' && needsAck(a)))

  return {
    state: readonly(state),
    active,
    unacked,
    criticalUnacked,
    apply,
    /** load fetches every open alert; the frames keep the list current after that */
    async load() {
      try {
        const before = new Map(state.open)
        const page = await api.get<AlertPage>('/api/alerts?' + alertQuery({ states: [...OPEN_STATES], limit: 1000 }))
        const seen = new Set(page.alerts.map((a) => a.id))
        // Drop what the answer no longer holds, unless a frame brought it while the request
        // was out: that frame is newer than the answer.
        for (const [id, a] of before) if (!seen.has(id) && state.open.get(id) === a) state.open.delete(id)
        for (const a of page.alerts) apply(a)
        state.loaded = true
        state.error = ''
      } catch (e) {
        state.error = (e as Error).message
      }
    },
    async ack(id: number, comment = ''): Promise<Alert> {
      const a = await api.post<Alert>(`/api/alerts/${id}/ack`, comment ? { comment } : {})
      apply(a)
      return a
    },
    /** history pages through every alert, newest first */
    history(f: AlertFilter): Promise<AlertPage> {
      return api.get<AlertPage>('/api/alerts?' + alertQuery(f))
    },
    clear() {
      state.open.clear()
      closedAt.clear()
      state.loaded = false
    },
  }
}

export type Alerts = ReturnType<typeof createAlerts>
export const ALERTS: InjectionKey<Alerts> = Symbol('alerts')

/** ACK opens the acknowledge dialog for an alert (provided by App.vue). */
export const ACK: InjectionKey<(a: Alert) => void> = Symbol('ack')
