import { describe, expect, it, vi } from 'vitest'
import type { Api } from '../lib/api'
import { OPEN_STATES, alertQuery, byUrgency, createAlerts, needsAck, type Alert, type AlertFilter, type AlertPage } from './alerts'

let nextId = 1
function alert(over: Partial<Alert> = {}): Alert {
  return {
    id: nextId++,
    sensor_id: 'P1',
    type: 'WARNING',
    state: 'ACTIVE_UNACK',
    message: 'pressure high',
    value: 8.5,
    threshold: 8,
    opened_at: '2025-03-01T08:00:00Z',
    escalated_at: null,
    cleared_at: null,
    acked_by: '',
    acked_at: null,
    comment: '',
    reactivations: 0,
    updated_at: '2025-03-01T08:00:00Z',
    ...over,
  }
}

function fakeApi() {
  const api = {
    get: vi.fn(async (_path: string): Promise<unknown> => ({ alerts: [], next_before_id: null })),
    post: vi.fn(async (_path: string, _body?: unknown): Promise<unknown> => undefined),
    refresh: vi.fn(async () => true),
  }
  return { api, asApi: api as unknown as Api }
}

describe('needsAck', () => {
  it.each([
    ['ACTIVE_UNACK', true],
    ['CLEARED_UNACK', true],
    ['ACTIVE_ACK', false],
    ['CLOSED', false],
  ] as const)('%s → %s', (state, want) => {
    expect(needsAck(alert({ state }))).toBe(want)
  })
})

describe('byUrgency', () => {
  const cases: [string, Partial<Alert>, Partial<Alert>][] = [
    ['CRITICAL before SENSOR_FAULT', { type: 'CRITICAL' }, { type: 'SENSOR_FAULT' }],
    ['SENSOR_FAULT before WARNING', { type: 'SENSOR_FAULT' }, { type: 'WARNING' }],
    ['CRITICAL before WARNING', { type: 'CRITICAL' }, { type: 'WARNING' }],
    ['an acked CRITICAL before an unacked WARNING (type first)', { type: 'CRITICAL', state: 'ACTIVE_ACK' }, { type: 'WARNING', state: 'ACTIVE_UNACK' }],
    ['unacked before acked', { state: 'ACTIVE_UNACK' }, { state: 'ACTIVE_ACK' }],
    ['cleared-unacked before acked', { state: 'CLEARED_UNACK' }, { state: 'ACTIVE_ACK' }],
    ['unacked before acked even if older', { state: 'ACTIVE_UNACK', opened_at: '2025-03-01T07:00:00Z' }, { state: 'ACTIVE_ACK', opened_at: '2025-03-01T09:00:00Z' }],
    ['newer first', { opened_at: '2025-03-01T09:00:00Z' }, { opened_at: '2025-03-01T08:00:00Z' }],
    ['newer first across a day', { opened_at: '2025-03-02T00:00:01Z' }, { opened_at: '2025-03-01T23:59:59Z' }],
    ['same time: higher id first', { id: 20 }, { id: 10 }],
  ]
  it.each(cases)('%s', (_name, first, second) => {
    const a = alert(first)
    const b = alert(second)
    expect(byUrgency(a, b)).toBeLessThan(0)
    expect(byUrgency(b, a)).toBeGreaterThan(0)
    expect([b, a].sort(byUrgency)).toEqual([a, b])
  })

  it('sorts a mixed list', () => {
    const list = [
      alert({ id: 1, type: 'WARNING', state: 'ACTIVE_ACK', opened_at: '2025-03-01T08:00:00Z' }),
      alert({ id: 2, type: 'WARNING', state: 'ACTIVE_UNACK', opened_at: '2025-03-01T08:00:00Z' }),
      alert({ id: 3, type: 'CRITICAL', state: 'ACTIVE_ACK', opened_at: '2025-03-01T08:00:00Z' }),
      alert({ id: 4, type: 'SENSOR_FAULT', state: 'ACTIVE_UNACK', opened_at: '2025-03-01T08:00:00Z' }),
      alert({ id: 5, type: 'CRITICAL', state: 'ACTIVE_UNACK', opened_at: '2025-03-01T07:00:00Z' }),
      alert({ id: 6, type: 'CRITICAL', state: 'ACTIVE_UNACK', opened_at: '2025-03-01T09:00:00Z' }),
    ]
    expect(list.sort(byUrgency).map((a) => a.id)).toEqual([6, 5, 3, 4, 2, 1])
  })
})

describe('alertQuery', () => {
  const queries: [AlertFilter, string][] = [
    [{}, 'limit=50'],
    [{ limit: 10 }, 'limit=10'],
    [{ states: [] }, 'limit=50'],
    [{ states: ['ACTIVE_UNACK', 'CLOSED'] }, 'state=ACTIVE_UNACK%2CCLOSED&limit=50'],
    [{ sensorId: 'P1' }, 'sensor_id=P1&limit=50'],
    [{ sensorId: 'P 1&x' }, 'sensor_id=P+1%26x&limit=50'],
    [{ since: '2025-03-01T00:00:00Z', until: '2025-03-02T00:00:00Z' }, 'since=2025-03-01T00%3A00%3A00Z&until=2025-03-02T00%3A00%3A00Z&limit=50'],
    [{ beforeId: 42, limit: 25 }, 'before_id=42&limit=25'],
    [{ beforeId: 0 }, 'limit=50'],
  ]
  it.each(queries)('%j → %s', (f, want) => {
    expect(alertQuery(f)).toBe(want)
  })

  it('round-trips through URLSearchParams', () => {
    const q = new URLSearchParams(alertQuery({ states: [...OPEN_STATES], sensorId: 'P2', beforeId: 7, limit: 100 }))
    expect(q.get('state')).toBe('ACTIVE_UNACK,ACTIVE_ACK,CLEARED_UNACK')
    expect(q.get('sensor_id')).toBe('P2')
    expect(q.get('before_id')).toBe('7')
    expect(q.get('limit')).toBe('100')
  })
})

describe('createAlerts', () => {
  it('apply() adds open alerts and counts the unacked ones', () => {
    const s = createAlerts(fakeApi().asApi)
    s.apply(alert({ id: 1, type: 'CRITICAL', state: 'ACTIVE_UNACK' }))
    s.apply(alert({ id: 2, type: 'CRITICAL', state: 'ACTIVE_ACK' }))
    s.apply(alert({ id: 3, type: 'WARNING', state: 'CLEARED_UNACK' }))
    s.apply(alert({ id: 4, type: 'SENSOR_FAULT', state: 'ACTIVE_UNACK' }))
    expect(s.active.value.map((a) => a.id)).toEqual([1, 2, 4, 3])
    expect(s.unacked.value).toBe(3)
    expect(s.urgentUnacked.value.map((a) => a.id)).toEqual([1])
  })

  it('a device fault takes the banner after the critical alerts, and leaves it once acknowledged', () => {
    const s = createAlerts(fakeApi().asApi)
    s.apply(alert({ id: 1, type: 'SENSOR_FAULT', state: 'ACTIVE_UNACK' }))
    s.apply(alert({ id: 2, type: 'DEVICE_FAULT', sensor_id: 'storage', state: 'ACTIVE_UNACK' }))
    expect(s.urgentUnacked.value.map((a) => a.id)).toEqual([2])
    s.apply(alert({ id: 3, type: 'CRITICAL', state: 'ACTIVE_UNACK' }))
    expect(s.urgentUnacked.value.map((a) => a.id)).toEqual([3, 2])
    expect(s.active.value.map((a) => a.id)).toEqual([3, 2, 1])
    // Latched: the acknowledgement closes it.
    s.apply(alert({ id: 2, type: 'DEVICE_FAULT', sensor_id: 'storage', state: 'CLOSED', acked_by: 'jan' }))
    expect(s.urgentUnacked.value.map((a) => a.id)).toEqual([3])
  })

  it('apply(): a later frame replaces the alert', () => {
    const s = createAlerts(fakeApi().asApi)
    s.apply(alert({ id: 1, state: 'ACTIVE_UNACK', updated_at: '2025-03-01T08:00:00Z' }))
    s.apply(alert({ id: 1, state: 'ACTIVE_ACK', acked_by: 'jan', updated_at: '2025-03-01T08:01:00Z' }))
    expect(s.active.value).toHaveLength(1)
    expect(s.active.value[0].state).toBe('ACTIVE_ACK')
    expect(s.unacked.value).toBe(0)
  })

  // Frames come in the order the daemon committed the changes, whatever their updated_at:
  // an escalation caused by a reading carries the reading's time, which can be before the
  // acknowledgement that was committed first.
  it('apply(): frames win in the order they arrive, not by updated_at', () => {
    const s = createAlerts(fakeApi().asApi)
    s.apply(alert({ id: 1, state: 'ACTIVE_ACK', acked_by: 'jan', updated_at: '2025-03-01T08:00:00.200Z' }))
    s.apply(alert({ id: 1, type: 'CRITICAL', state: 'ACTIVE_UNACK', updated_at: '2025-03-01T08:00:00.000Z' }))
    expect(s.urgentUnacked.value.map((a) => a.id)).toEqual([1])
  })

  it('apply(): a reactivation after a CLOSED frame reopens the alert', () => {
    const s = createAlerts(fakeApi().asApi)
    s.apply(alert({ id: 1, state: 'CLOSED', updated_at: '2025-03-01T08:04:00Z' }))
    s.apply(alert({ id: 1, state: 'ACTIVE_UNACK', reactivations: 1, updated_at: '2025-03-01T08:03:59Z' }))
    expect(s.state.open.has(1)).toBe(true)
  })

  it('apply(): CLOSED removes the alert', () => {
    const s = createAlerts(fakeApi().asApi)
    s.apply(alert({ id: 1, type: 'CRITICAL', updated_at: '2025-03-01T08:00:00Z' }))
    s.apply(alert({ id: 2, updated_at: '2025-03-01T08:00:00Z' }))
    expect(s.urgentUnacked.value).toHaveLength(1)
    s.apply(alert({ id: 1, type: 'CRITICAL', state: 'CLOSED', updated_at: '2025-03-01T08:02:00Z' }))
    expect(s.active.value.map((a) => a.id)).toEqual([2])
    expect(s.urgentUnacked.value).toHaveLength(0)
    expect(s.unacked.value).toBe(1)
  })

  it('apply(): CLOSED of an unknown alert adds nothing', () => {
    const s = createAlerts(fakeApi().asApi)
    s.apply(alert({ id: 9, state: 'CLOSED' }))
    expect(s.active.value).toEqual([])
  })

  // An older copy of a closed alert that arrives late (the answer of a load() that was under
  // way while the alert closed) must not reopen it.
  it('load(): an answer built before a CLOSED frame does not bring the alert back', async () => {
    const { api, asApi } = fakeApi()
    const s = createAlerts(asApi)
    s.apply(alert({ id: 1, state: 'ACTIVE_UNACK' }))
    let answer!: (p: AlertPage) => void
    api.get.mockImplementation(() => new Promise<AlertPage>((r) => (answer = r)))
    const loading = s.load()
    s.apply(alert({ id: 1, state: 'CLOSED' }))
    answer({ alerts: [alert({ id: 1, state: 'ACTIVE_ACK' })], next_before_id: null })
    await loading
    expect(s.state.open.has(1)).toBe(false)
  })

  it('ack(): an answer overtaken by a frame does not undo the frame', async () => {
    const { api, asApi } = fakeApi()
    const s = createAlerts(asApi)
    s.apply(alert({ id: 1, state: 'ACTIVE_UNACK' }))
    let answer!: (a: Alert) => void
    api.post.mockImplementation(() => new Promise<Alert>((r) => (answer = r)))
    const acking = s.ack(1)
    s.apply(alert({ id: 1, type: 'CRITICAL', state: 'ACTIVE_UNACK', acked_by: '' })) // escalated after the ack
    answer(alert({ id: 1, state: 'ACTIVE_ACK', acked_by: 'jan' }))
    await acking
    expect(s.state.open.get(1)?.type).toBe('CRITICAL')
    expect(s.urgentUnacked.value).toHaveLength(1)
  })

  it('load() asks for every open alert and replaces the set', async () => {
    const { api, asApi } = fakeApi()
    const s = createAlerts(asApi)
    s.apply(alert({ id: 1 }))
    s.apply(alert({ id: 2 }))
    const page: AlertPage = { alerts: [alert({ id: 2 }), alert({ id: 3, type: 'CRITICAL' })], next_before_id: null }
    api.get.mockResolvedValue(page)
    await s.load()
    const path = api.get.mock.calls[0][0]
    expect(path.startsWith('/api/alerts?')).toBe(true)
    const q = new URLSearchParams(path.slice('/api/alerts?'.length))
    expect(q.get('state')).toBe('ACTIVE_UNACK,ACTIVE_ACK,CLEARED_UNACK')
    expect(q.get('limit')).toBe('1000')
    expect([...s.state.open.keys()].sort()).toEqual([2, 3])
    expect(s.active.value.map((a) => a.id)).toEqual([3, 2])
    expect(s.state.loaded).toBe(true)
    expect(s.state.error).toBe('')
  })

  it('load(): the answer replaces what frames brought before the request went out', async () => {
    const { api, asApi } = fakeApi()
    const s = createAlerts(asApi)
    s.apply(alert({ id: 1, state: 'ACTIVE_UNACK' }))
    api.get.mockResolvedValue({ alerts: [alert({ id: 1, state: 'ACTIVE_ACK', acked_by: 'jan' })], next_before_id: null })
    await s.load()
    expect(s.state.open.get(1)?.state).toBe('ACTIVE_ACK')
  })

  // load() drops what its answer no longer holds, but not an alert that a frame brought in
  // while the request was under way (opened after the server built the answer).
  it('load() does not drop an alert that a frame brought in while the request was under way', async () => {
    const { api, asApi } = fakeApi()
    const s = createAlerts(asApi)
    let answer!: (p: AlertPage) => void
    api.get.mockImplementation(() => new Promise<AlertPage>((r) => (answer = r)))
    const loading = s.load()
    s.apply(alert({ id: 7, type: 'CRITICAL', opened_at: '2025-03-01T08:10:00Z', updated_at: '2025-03-01T08:10:00Z' }))
    answer({ alerts: [alert({ id: 1, updated_at: '2025-03-01T08:09:00Z' })], next_before_id: null })
    await loading
    expect(s.state.open.has(7)).toBe(true)
  })

  it('load() failing keeps the set and records the error', async () => {
    const { api, asApi } = fakeApi()
    const s = createAlerts(asApi)
    s.apply(alert({ id: 1 }))
    api.get.mockRejectedValue(new Error('the device did not answer'))
    await s.load()
    expect(s.state.error).toBe('the device did not answer')
    expect(s.state.loaded).toBe(false)
    expect(s.state.open.has(1)).toBe(true)
  })

  it.each([
    ['with a comment', 'checked the valve', { comment: 'checked the valve' }],
    ['without a comment', '', {}],
  ])('ack() %s posts to /api/alerts/{id}/ack and applies the answer', async (_name, comment, body) => {
    const { api, asApi } = fakeApi()
    const s = createAlerts(asApi)
    s.apply(alert({ id: 5, type: 'CRITICAL', updated_at: '2025-03-01T08:00:00Z' }))
    expect(s.urgentUnacked.value).toHaveLength(1)
    const acked = alert({ id: 5, type: 'CRITICAL', state: 'ACTIVE_ACK', acked_by: 'jan', comment, updated_at: '2025-03-01T08:01:00Z' })
    api.post.mockResolvedValue(acked)
    await expect(s.ack(5, comment)).resolves.toEqual(acked)
    expect(api.post).toHaveBeenCalledWith('/api/alerts/5/ack', body)
    expect(s.state.open.get(5)?.state).toBe('ACTIVE_ACK')
    expect(s.urgentUnacked.value).toHaveLength(0)
    expect(s.unacked.value).toBe(0)
  })

  it('ack() failing leaves the alert unacked and throws', async () => {
    const { api, asApi } = fakeApi()
    const s = createAlerts(asApi)
    s.apply(alert({ id: 5 }))
    api.post.mockRejectedValue(new Error('forbidden'))
    await expect(s.ack(5)).rejects.toThrow('forbidden')
    expect(s.unacked.value).toBe(1)
  })

  it('history() asks with the filter', async () => {
    const { api, asApi } = fakeApi()
    await createAlerts(asApi).history({ sensorId: 'P3', beforeId: 100, limit: 20 })
    expect(api.get).toHaveBeenCalledWith('/api/alerts?sensor_id=P3&before_id=100&limit=20')
  })

  it('clear() empties the set', async () => {
    const { api, asApi } = fakeApi()
    const s = createAlerts(asApi)
    api.get.mockResolvedValue({ alerts: [alert({ id: 1 })], next_before_id: null })
    await s.load()
    s.clear()
    expect(s.active.value).toEqual([])
    expect(s.state.loaded).toBe(false)
  })

  it('a failed load() is tried again with backoff until it succeeds', async () => {
    vi.useFakeTimers()
    try {
      const { api, asApi } = fakeApi()
      const s = createAlerts(asApi)
      api.get.mockRejectedValueOnce(new Error('down')).mockRejectedValueOnce(new Error('down'))
      api.get.mockResolvedValue({ alerts: [alert({ id: 5, type: 'CRITICAL' })], next_before_id: null })
      await s.load()
      expect(api.get).toHaveBeenCalledTimes(1)
      await vi.advanceTimersByTimeAsync(1999)
      expect(api.get).toHaveBeenCalledTimes(1)
      await vi.advanceTimersByTimeAsync(1) // 2 s after the first failure
      expect(api.get).toHaveBeenCalledTimes(2)
      await vi.advanceTimersByTimeAsync(4000) // then 4 s
      expect(api.get).toHaveBeenCalledTimes(3)
      expect(s.state.loaded).toBe(true)
      expect(s.urgentUnacked.value.map((a) => a.id)).toEqual([5])
      await vi.advanceTimersByTimeAsync(60_000)
      expect(api.get).toHaveBeenCalledTimes(3) // no retry after success
    } finally {
      vi.useRealTimers()
    }
  })

  it('two loads failing together leave one retry, and clear() stops it', async () => {
    vi.useFakeTimers()
    try {
      const { api, asApi } = fakeApi()
      const s = createAlerts(asApi)
      api.get.mockRejectedValue(new Error('down'))
      await Promise.all([s.load(), s.load()])
      s.clear()
      await vi.advanceTimersByTimeAsync(600_000)
      expect(api.get).toHaveBeenCalledTimes(2)
    } finally {
      vi.useRealTimers()
    }
  })

  it('clear() stops the retries and drops an answer of the earlier sign-in', async () => {
    vi.useFakeTimers()
    try {
      const { api, asApi } = fakeApi()
      const s = createAlerts(asApi)
      api.get.mockRejectedValueOnce(new Error('down'))
      await s.load()
      s.clear()
      await vi.advanceTimersByTimeAsync(60_000)
      expect(api.get).toHaveBeenCalledTimes(1)

      let answer!: (p: AlertPage) => void
      api.get.mockImplementation(() => new Promise<AlertPage>((r) => (answer = r)))
      const loading = s.load()
      s.clear()
      answer({ alerts: [alert({ id: 8 })], next_before_id: null })
      await loading
      expect(s.state.open.size).toBe(0)
      expect(s.state.loaded).toBe(false)
    } finally {
      vi.useRealTimers()
    }
  })
})
