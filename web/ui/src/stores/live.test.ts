import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Api } from '../lib/api'
import type { Alert } from './alerts'
import { SPARK_SECONDS, STALE_MS, backoff, createLive, readingAge, readingStale, type LiveOptions } from './live'

/** FakeSocket is a WebSocket the test drives: it never opens or closes on its own. */
class FakeSocket {
  static all: FakeSocket[] = []
  onopen: ((ev: Event) => void) | null = null
  onmessage: ((ev: MessageEvent) => void) | null = null
  onclose: ((ev: CloseEvent) => void) | null = null
  onerror: ((ev: Event) => void) | null = null
  closed: number[] = []
  constructor(readonly url: string) {
    FakeSocket.all.push(this)
  }
  close(code = 1005) {
    this.closed.push(code)
  }
  open() {
    this.onopen?.(new Event('open'))
  }
  /** send delivers a frame; a sensors frame without seq gets the next round's. */
  send(frame: unknown) {
    if (frame && typeof frame === 'object' && (frame as { type?: string }).type === 'sensors' && !('seq' in frame)) {
      frame = { seq: ++FakeSocket.seq, ...frame }
    }
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) } as MessageEvent)
  }
  static seq = 0
  fireClose(code: number) {
    this.onclose?.({ code } as CloseEvent)
  }
  static get last(): FakeSocket {
    return FakeSocket.all[FakeSocket.all.length - 1]
  }
}

const URL_ = 'ws://device/api/ws/sensors'

const meta = {
  P1: { name: 'Inlet', range: [0, 10], normal: [2, 8], warning: [1, 9] },
  'P 2': { name: 'Outlet', range: [0, 1000], normal: [200, 800], warning: [100, 900] },
}

function fakeApi(history: Record<string, { value: number | null; quality?: 'good' | 'bad'; timestamp: string }[]> = {}) {
  const api = {
    get: vi.fn(async (path: string): Promise<unknown> => {
      if (path === '/api/sensors/current') {
        return {
          order: ['P1', 'P 2'],
          sensors: {
            P1: { ...meta.P1, value: 5, unit: 'bar', status: 'normal', quality: 'good', timestamp: new Date().toISOString() },
            'P 2': { ...meta['P 2'], value: 500, unit: 'mbar', status: 'normal', quality: 'good', timestamp: new Date().toISOString() },
          },
        }
      }
      const m = /^\/api\/sensors\/([^/]+)\/history\?/.exec(path)
      if (m) return { points: history[decodeURIComponent(m[1])] ?? [] }
      throw new Error('unexpected ' + path)
    }),
    post: vi.fn(),
    refresh: vi.fn(async () => true),
  }
  return { api, asApi: api as unknown as Api }
}

const reading = (value: number | null, over: Record<string, unknown> = {}) => ({
  value,
  unit: 'bar',
  status: 'normal',
  quality: 'good',
  timestamp: new Date(Date.now()).toISOString(),
  ...over,
})

function setup(over: Partial<LiveOptions> = {}) {
  const { api, asApi } = fakeApi()
  const live = createLive({
    api: asApi,
    url: URL_,
    WebSocket: FakeSocket as unknown as typeof WebSocket,
    now: () => Date.now(),
    random: () => 0.5, // no jitter
    ...over,
  })
  return { live, api }
}

/** goLive starts the store, opens the socket and sends one sensors frame. */
async function goLive(over: Partial<LiveOptions> = {}) {
  const s = setup(over)
  s.live.start()
  FakeSocket.last.open()
  await vi.advanceTimersByTimeAsync(0)
  FakeSocket.last.send({ type: 'sensors', P1: reading(5) })
  return s
}

beforeEach(() => {
  FakeSocket.all = []
  vi.useFakeTimers()
  vi.setSystemTime(Date.parse('2025-03-01T08:00:00Z'))
})
afterEach(() => {
  vi.useRealTimers()
})

describe('backoff', () => {
  it.each([
    [1, 500],
    [2, 1000],
    [3, 2000],
    [4, 4000],
    [5, 8000],
    [6, 10_000],
    [7, 10_000],
    [100, 10_000],
    [0, 500],
  ])('attempt %i waits %i ms without jitter', (n, base) => {
    expect(backoff(n, () => 0.5)).toBe(base)
  })

  it.each([1, 2, 3, 4, 5, 6, 20])('attempt %i: jitter stays within ±20 %% and under the 10 s cap', (n) => {
    const base = backoff(n, () => 0.5)
    const hi = Math.min(10_000, Math.round(base * 1.2))
    expect(backoff(n, () => 0)).toBe(Math.round(base * 0.8))
    expect(backoff(n, () => 1)).toBe(hi)
    for (let i = 0; i < 50; i++) {
      const w = backoff(n)
      expect(w).toBeGreaterThanOrEqual(Math.round(base * 0.8))
      expect(w).toBeLessThanOrEqual(hi)
    }
  })
})

describe('readingStale', () => {
  const now = Date.parse('2025-03-01T08:00:10Z')
  const at = (s: number) => ({ timestamp: new Date(now - s * 1000).toISOString() })
  it.each([
    ['fresh', at(1), { interval: 1 }, false],
    ['2 s old at a 1 s interval: not yet', at(2), { interval: 1 }, false],
    ['2.1 s old at a 1 s interval', at(2.1), { interval: 1 }, true],
    ['5 s old at a 5 s interval: not yet', at(5), { interval: 5 }, false],
    ['10.5 s old at a 5 s interval', at(10.5), { interval: 5 }, true],
    ['no interval: 2 s', at(2.5), undefined, true],
    ['no reading', undefined, { interval: 1 }, false],
  ])('%s', (_, r, meta, want) => {
    expect(readingStale(r, meta, now)).toBe(want)
  })

  it('readingAge is ms since the reading, null without one', () => {
    expect(readingAge(at(12), now)).toBe(12_000)
    expect(readingAge(undefined, now)).toBeNull()
    expect(readingAge({ timestamp: 'garbage' }, now)).toBeNull()
    expect(readingAge({ timestamp: '0001-01-01T00:00:00Z' }, now)).toBeNull() // not read yet
  })
})

describe('createLive', () => {
  it('connects to the url and starts as connecting', () => {
    const { live } = setup()
    expect(live.state.link).toBe('connecting')
    live.start()
    expect(FakeSocket.all).toHaveLength(1)
    expect(FakeSocket.last.url).toBe(URL_)
    expect(live.state.link).toBe('connecting')
    live.start() // a second start is ignored
    expect(FakeSocket.all).toHaveLength(1)
  })

  it('on open loads the sensors and backfills the sparklines', async () => {
    const { api, asApi } = fakeApi({
      P1: [
        { value: 4, timestamp: new Date(Date.now() - 2000).toISOString() },
        { value: null, timestamp: new Date(Date.now() - 1000).toISOString() },
      ],
    })
    const live = createLive({ api: asApi, url: URL_, WebSocket: FakeSocket as unknown as typeof WebSocket, random: () => 0.5 })
    live.start()
    FakeSocket.last.open()
    await vi.advanceTimersByTimeAsync(0)
    expect(api.get).toHaveBeenCalledWith('/api/sensors/current')
    expect(live.state.order).toEqual(['P1', 'P 2'])
    expect(live.state.meta.P1).toEqual({ id: 'P1', ...meta.P1, unit: 'bar' })
    expect(live.state.readings.P1.value).toBe(5)
    const paths = api.get.mock.calls.map((c) => c[0]).filter((p) => p.includes('/history'))
    expect(paths).toHaveLength(2)
    expect(paths.some((p) => p.startsWith('/api/sensors/P%202/history?'))).toBe(true)
    const q = new URLSearchParams(paths[0].split('?')[1])
    expect(q.get('max_points')).toBe(String(SPARK_SECONDS))
    expect(Date.parse(q.get('start_time')!)).toBe(Date.now() - SPARK_SECONDS * 1000)
    expect(live.state.spark.P1).toEqual([
      [Date.now() - 2000, 4],
      [Date.now() - 1000, null],
    ])
  })

  it('a bad reading or bucket of the history is a gap in the sparkline, not its number', async () => {
    const at = (ms: number) => new Date(Date.now() - ms).toISOString()
    const { asApi } = fakeApi({
      P1: [
        { value: 4, quality: 'good', timestamp: at(3000) },
        { value: 1000, quality: 'bad', timestamp: at(2000) }, // out of range, clamped by the daemon
        { value: 4.5, timestamp: at(1000) }, // an older daemon without quality
      ],
    })
    const live = createLive({ api: asApi, url: URL_, WebSocket: FakeSocket as unknown as typeof WebSocket, random: () => 0.5 })
    live.start()
    FakeSocket.last.open()
    await vi.advanceTimersByTimeAsync(0)
    expect(live.state.spark.P1).toEqual([
      [Date.now() - 3000, 4],
      [Date.now() - 2000, null],
      [Date.now() - 1000, 4.5],
    ])
  })

  it("a frame before the sensors' settings waits for them: no reading is judged without its limits", async () => {
    let answer: (v: unknown) => void = () => {}
    const { api, asApi } = fakeApi()
    const real = api.get.getMockImplementation()!
    api.get.mockImplementation((path: string) =>
      path === '/api/sensors/current' ? new Promise((r) => (answer = () => r(real(path)))) : real(path),
    )
    const live = createLive({ api: asApi, url: URL_, WebSocket: FakeSocket as unknown as typeof WebSocket, random: () => 0.5 })
    live.start()
    FakeSocket.last.open()
    FakeSocket.last.send({ type: 'sensors', P1: reading(12, { status: 'critical', quality: 'bad', fault: 'out of range' }) })
    expect(live.state.link).toBe('live') // the round is news: the link is live
    expect(live.state.readings.P1).toBeUndefined() // but its reading waits
    expect(live.state.meta.P1).toBeUndefined()
    answer(undefined)
    await vi.advanceTimersByTimeAsync(0)
    expect(live.state.meta.P1.range).toEqual([0, 10])
    expect(live.state.readings.P1.value).toBe(12) // the frame's, newer than the answer's 5
    expect(live.state.spark.P1.at(-1)?.[1]).toBeNull()
    // after the settings, frames apply at once
    vi.advanceTimersByTime(1000)
    FakeSocket.last.send({ type: 'sensors', P1: reading(6) })
    expect(live.state.readings.P1.value).toBe(6)
  })

  it('settings that fail to load are asked for again; the frame that waited for them then shows', async () => {
    const { api, asApi } = fakeApi()
    const real = api.get.getMockImplementation()!
    let fail = true
    api.get.mockImplementation(async (path: string) => {
      if (path === '/api/sensors/current' && fail) throw new Error('503')
      return real(path)
    })
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const live = createLive({ api: asApi, url: URL_, WebSocket: FakeSocket as unknown as typeof WebSocket, random: () => 0.5 })
    live.start()
    FakeSocket.last.open()
    await vi.advanceTimersByTimeAsync(0)
    FakeSocket.last.send({ type: 'sensors', P1: reading(7) })
    expect(live.state.readings.P1).toBeUndefined()
    fail = false
    await vi.advanceTimersByTimeAsync(2000)
    expect(live.state.meta.P1).toBeDefined()
    expect(live.state.readings.P1.value).toBe(7)
    warn.mockRestore()
  })

  it('a daemon that hangs: the link is lost within 3 s of its last frame', async () => {
    const { live } = await goLive()
    const sock = FakeSocket.last
    vi.advanceTimersByTime(1000)
    sock.send({ type: 'sensors', P1: reading(5) })
    vi.advanceTimersByTime(2750)
    expect(live.state.link).toBe('live')
    vi.advanceTimersByTime(500)
    expect(live.state.link).toBe('lost')
    expect(sock.closed).toHaveLength(1)
  })

  it('the first sensors frame makes the link live and sets readings and sparks', async () => {
    const { live } = setup()
    live.start()
    FakeSocket.last.open()
    await vi.advanceTimersByTimeAsync(0)
    const t1 = Date.now()
    FakeSocket.last.send({ type: 'sensors', P1: reading(5.02), P3: reading(1, { quality: 'bad', fault: 'open circuit' }) })
    expect(live.state.link).toBe('live')
    expect(live.state.lastFrame).toBe(t1)
    expect(live.state.readings.P1.value).toBe(5.02)
    expect(live.state.readings.P3.fault).toBe('open circuit')
    expect(live.state.order).toEqual(['P1', 'P 2', 'P3']) // a sensor not in the configuration is added
    expect(live.state.spark.P1.at(-1)).toEqual([t1, 5.02])
    // a bad reading is a gap, not a number
    expect(live.state.spark.P3).toEqual([[t1, null]])

    vi.advanceTimersByTime(1000)
    FakeSocket.last.send({ type: 'sensors', P1: reading(5.1) })
    expect(live.state.spark.P1.slice(-2)).toEqual([
      [t1, 5.02],
      [t1 + 1000, 5.1],
    ])
  })

  it('backfill: the history, then the live points newer than its last', async () => {
    const t = Date.now()
    const { asApi } = fakeApi({
      P1: [
        { value: 1, timestamp: new Date(t - 3000).toISOString() },
        { value: 2, timestamp: new Date(t).toISOString() },
      ],
    })
    const live = createLive({ api: asApi, url: URL_, WebSocket: FakeSocket as unknown as typeof WebSocket, random: () => 0.5 })
    live.start()
    FakeSocket.last.open()
    // a frame arrives before the history answer
    FakeSocket.last.send({ type: 'sensors', P1: reading(7) })
    await vi.advanceTimersByTimeAsync(0)
    expect(live.state.spark.P1).toEqual([
      [t - 3000, 1],
      [t, 2],
    ])
    vi.advanceTimersByTime(1000)
    FakeSocket.last.send({ type: 'sensors', P1: reading(8) })
    expect(live.state.spark.P1.at(-1)).toEqual([t + 1000, 8])
  })

  it('spark points older than SPARK_SECONDS are dropped', async () => {
    const { live } = await goLive()
    const first = live.state.spark.P1.length
    expect(first).toBe(1)
    for (let i = 0; i < SPARK_SECONDS + 10; i++) {
      vi.advanceTimersByTime(1000)
      FakeSocket.last.send({ type: 'sensors', P1: reading(5) })
    }
    const s = live.state.spark.P1
    expect(s[0][0]).toBeGreaterThanOrEqual(Date.now() - SPARK_SECONDS * 1000)
    expect(s.length).toBeLessThanOrEqual(SPARK_SECONDS + 1)
  })

  it('an alert frame goes to onAlert and does not touch the readings', async () => {
    const onAlert = vi.fn()
    const { live } = await goLive({ onAlert })
    const a = { id: 3, type: 'CRITICAL', state: 'ACTIVE_UNACK' } as Alert
    FakeSocket.last.send({ type: 'alert', alert: a })
    expect(onAlert).toHaveBeenCalledTimes(1)
    expect(onAlert).toHaveBeenCalledWith(a)
    expect(Object.keys(live.state.readings).sort()).toEqual(['P 2', 'P1'])
  })

  it('an alert frame before any sensors frame does not make the link live', () => {
    const onAlert = vi.fn()
    const { live } = setup({ onAlert })
    live.start()
    FakeSocket.last.open()
    FakeSocket.last.send({ type: 'alert', alert: { id: 1 } })
    expect(onAlert).toHaveBeenCalled()
    expect(live.state.link).toBe('connecting')
  })

  it('a frame that is not JSON is ignored', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const { live } = await goLive()
    const before = live.state.lastFrame
    vi.advanceTimersByTime(500)
    FakeSocket.last.send('not json{')
    expect(live.state.lastFrame).toBe(before)
    expect(warn).toHaveBeenCalled()
    warn.mockRestore()
  })

  it('close → lost, attempts counted, reconnect after the backoff', async () => {
    const { live } = await goLive()
    const t = Date.now()
    FakeSocket.last.fireClose(1006)
    expect(live.state.link).toBe('lost')
    expect(live.state.attempts).toBe(1)
    expect(live.state.closeCode).toBe(1006)
    expect(live.state.retryAt).toBe(t + 500)
    vi.advanceTimersByTime(499)
    expect(FakeSocket.all).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(FakeSocket.all).toHaveLength(2)
    expect(live.state.link).toBe('lost') // still lost while connecting again
    expect(live.state.retryAt).toBe(0)

    // the second attempt fails too: twice the wait
    FakeSocket.last.fireClose(1006)
    expect(live.state.attempts).toBe(2)
    vi.advanceTimersByTime(999)
    expect(FakeSocket.all).toHaveLength(2)
    vi.advanceTimersByTime(1)
    expect(FakeSocket.all).toHaveLength(3)

    // a frame on the new socket: live again, the count starts over
    FakeSocket.last.open()
    FakeSocket.last.send({ type: 'sensors', P1: reading(5) })
    expect(live.state.link).toBe('live')
    expect(live.state.attempts).toBe(0)
  })

  it('a socket that cannot be made is retried', () => {
    let n = 0
    class Failing extends FakeSocket {
      constructor(url: string) {
        if (n++ === 0) throw new Error('SecurityError')
        super(url)
      }
    }
    const { live } = setup({ WebSocket: Failing as unknown as typeof WebSocket })
    live.start()
    expect(FakeSocket.all).toHaveLength(0)
    expect(live.state.link).toBe('lost')
    expect(live.state.attempts).toBe(1)
    vi.advanceTimersByTime(500)
    expect(FakeSocket.all).toHaveLength(1)
  })

  it('frames and closes of a replaced socket are ignored', async () => {
    const { live } = await goLive()
    const old = FakeSocket.last
    old.fireClose(1006)
    vi.advanceTimersByTime(500)
    expect(FakeSocket.all).toHaveLength(2)
    old.send({ type: 'sensors', P1: reading(99) })
    expect(live.state.readings.P1.value).toBe(5)
    old.fireClose(1011)
    expect(live.state.attempts).toBe(1)
    expect(FakeSocket.all).toHaveLength(2)
  })

  it(`stale: no frame for more than STALE_MS while live → the socket is closed and the link lost`, async () => {
    const { live } = await goLive()
    const sock = FakeSocket.last
    // frames every second keep it live
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(1000)
      sock.send({ type: 'sensors', P1: reading(5) })
    }
    expect(live.state.link).toBe('live')
    expect(sock.closed).toEqual([])
    vi.advanceTimersByTime(STALE_MS)
    expect(live.state.link).toBe('live') // exactly STALE_MS is not yet stale
    vi.advanceTimersByTime(1000)
    expect(sock.closed).toHaveLength(1)
    expect(live.state.link).toBe('lost')
    expect(live.state.attempts).toBe(1)
    // the close event of the dropped socket does not count twice
    sock.fireClose(1006)
    expect(live.state.attempts).toBe(1)
    vi.advanceTimersByTime(500)
    expect(FakeSocket.all).toHaveLength(2)
  })

  // A socket that opens after a reconnect but never sends a frame (a half-open connection,
  // a stuck proxy) must not leave the link 'lost' for ever: the watchdog drops it and tries
  // again.
  it('a reconnected socket that never sends a frame is dropped and tried again', async () => {
    const { live } = await goLive()
    FakeSocket.last.fireClose(1006)
    vi.advanceTimersByTime(500)
    const silent = FakeSocket.last
    silent.open()
    await vi.advanceTimersByTimeAsync(STALE_MS * 4)
    expect(live.state.link).toBe('lost')
    expect(silent.closed.length + (FakeSocket.all.length - 2)).toBeGreaterThan(0)
  })

  it('a first socket that stays silent is dropped after STALE_MS, not before', () => {
    const { live } = setup()
    live.start()
    vi.advanceTimersByTime(STALE_MS - 1000)
    expect(FakeSocket.last.closed).toEqual([])
    expect(live.state.link).toBe('connecting')
    vi.advanceTimersByTime(2000)
    expect(FakeSocket.all[0].closed.length).toBe(1)
    expect(live.state.link).toBe('lost')
  })

  it('close code 4001 asks onAuthFailed; true → reconnect', async () => {
    const onAuthFailed = vi.fn(async () => true)
    const { live } = await goLive({ onAuthFailed })
    FakeSocket.last.fireClose(4001)
    expect(onAuthFailed).toHaveBeenCalledTimes(1)
    expect(live.state.link).toBe('lost')
    expect(live.state.closeCode).toBe(4001)
    await vi.advanceTimersByTimeAsync(0)
    expect(live.state.attempts).toBe(1)
    await vi.advanceTimersByTimeAsync(500)
    expect(FakeSocket.all).toHaveLength(2)
  })

  it('close code 4001 and onAuthFailed false → stopped, no reconnect', async () => {
    const onAuthFailed = vi.fn(async () => false)
    const { live } = await goLive({ onAuthFailed })
    FakeSocket.last.fireClose(4001)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(onAuthFailed).toHaveBeenCalledTimes(1)
    expect(FakeSocket.all).toHaveLength(1)
    expect(live.state.attempts).toBe(0)
    expect(live.state.retryAt).toBe(0)
  })

  it('close code 4001 without onAuthFailed is an ordinary reconnect', async () => {
    const { live } = await goLive()
    FakeSocket.last.fireClose(4001)
    expect(live.state.attempts).toBe(1)
    vi.advanceTimersByTime(500)
    expect(FakeSocket.all).toHaveLength(2)
  })

  it('onOpen runs whenever a socket opens, the first included', async () => {
    const onOpen = vi.fn()
    await goLive({ onOpen })
    expect(onOpen).toHaveBeenCalledTimes(1)
    FakeSocket.last.fireClose(1006)
    vi.advanceTimersByTime(500)
    expect(onOpen).toHaveBeenCalledTimes(1)
    FakeSocket.last.open()
    expect(onOpen).toHaveBeenCalledTimes(2)
  })

  it('a round seen before does not make the link live (polling has stopped)', async () => {
    const { live } = await goLive()
    FakeSocket.last.send({ type: 'sensors', seq: 1000, P1: reading(5) })
    FakeSocket.last.fireClose(1006)
    vi.advanceTimersByTime(500)
    FakeSocket.last.open()
    // the hub's first frame is its newest round: the same one
    FakeSocket.last.send({ type: 'sensors', seq: 1000, P1: reading(5) })
    expect(live.state.link).toBe('lost')
    FakeSocket.last.send({ type: 'sensors', seq: 1001, P1: reading(5.5) })
    expect(live.state.link).toBe('live')
    expect(live.state.readings.P1.value).toBe(5.5)
  })

  it('an empty sensors frame does not make the link live', () => {
    const { live } = setup()
    live.start()
    FakeSocket.last.open()
    FakeSocket.last.send({ type: 'sensors', seq: 0, ts: Date.now() / 1000 })
    expect(live.state.link).toBe('connecting')
  })

  it('serverNow follows the device clock from the frames ts', async () => {
    const { live } = await goLive()
    expect(Math.abs(live.serverNow() - Date.now())).toBeLessThan(1000) // no ts yet: ours
    FakeSocket.last.send({ type: 'sensors', ts: (Date.now() + 3_600_000) / 1000, P1: reading(5) })
    expect(live.serverNow() - Date.now()).toBe(3_600_000)
  })

  it('the sparkline window follows the device clock, not the browser one', async () => {
    const { live } = await goLive()
    const device = Date.now() - 86_400_000 // the device is a day behind
    for (let i = 0; i < 3; i++) {
      FakeSocket.last.send({
        type: 'sensors', ts: (device + i * 1000) / 1000,
        P1: reading(5 + i, { timestamp: new Date(device + i * 1000).toISOString() }),
      })
    }
    expect(live.state.spark.P1.slice(-3).map((p) => p[1])).toEqual([5, 6, 7])
  })

  it('a first round hours old (polling stopped) is not live', () => {
    const { live } = setup()
    live.start()
    FakeSocket.last.open()
    const old = new Date(Date.now() - 3_600_000).toISOString()
    FakeSocket.last.send({ type: 'sensors', seq: 42, ts: Date.now() / 1000, P1: reading(5, { timestamp: old }) })
    expect(live.state.link).toBe('connecting')
    FakeSocket.last.send({ type: 'sensors', seq: 43, ts: Date.now() / 1000, P1: reading(5) })
    expect(live.state.link).toBe('live')
  })

  it('the stale wait follows the fastest sensor: rounds come when any sensor is due', async () => {
    const { live, api } = setup()
    api.get.mockImplementation(async (path: string) =>
      path === '/api/sensors/current'
        ? { order: ['P1', 'T1'], sensors: { P1: { ...meta.P1, interval: 1, ...reading(5) }, T1: { ...meta.P1, interval: 3600, ...reading(5) } } }
        : { points: [] },
    )
    live.start()
    FakeSocket.last.open()
    await vi.advanceTimersByTimeAsync(0)
    FakeSocket.last.send({ type: 'sensors', P1: reading(5) })
    const sock = FakeSocket.last
    await vi.advanceTimersByTimeAsync(STALE_MS + 1500)
    expect(sock.closed).toHaveLength(1)
    expect(live.state.link).toBe('lost')
  })

  it('an answer to a request of before stop() does not refill the store', async () => {
    const { live, api } = setup()
    let answer!: (v: unknown) => void
    api.get.mockImplementation((path: string) =>
      path === '/api/sensors/current' ? new Promise((r) => (answer = r)) : Promise.resolve({ points: [] }),
    )
    live.start()
    FakeSocket.last.open()
    live.stop()
    answer({ order: ['P1'], sensors: { P1: { ...meta.P1, interval: 1, ...reading(5) } } })
    await vi.advanceTimersByTimeAsync(0)
    expect(live.state.order).toEqual([])
    expect(live.state.readings).toEqual({})
  })

  it('slow sensors stretch the stale wait to three intervals', async () => {
    const { live, api } = setup()
    api.get.mockImplementation(async (path: string) =>
      path === '/api/sensors/current'
        ? { order: ['P1'], sensors: { P1: { ...meta.P1, interval: 10, ...reading(5) } } }
        : { points: [] },
    )
    live.start()
    FakeSocket.last.open()
    await vi.advanceTimersByTimeAsync(0)
    FakeSocket.last.send({ type: 'sensors', P1: reading(5) })
    const sock = FakeSocket.last
    await vi.advanceTimersByTimeAsync(29_000)
    expect(sock.closed).toEqual([])
    expect(live.state.link).toBe('live')
    await vi.advanceTimersByTimeAsync(2000)
    expect(sock.closed).toHaveLength(1)
    expect(live.state.link).toBe('lost')
  })

  it('stop() forgets the data: the next user starts from nothing', async () => {
    const { live } = await goLive()
    expect(live.state.readings.P1).toBeDefined()
    live.stop()
    expect(live.state.readings).toEqual({})
    expect(live.state.spark).toEqual({})
    expect(live.state.order).toEqual([])
    expect(live.state.lastFrame).toBe(0)
  })

  it('a refresh answered after a sign-out does not touch the next run', async () => {
    let answer!: (ok: boolean) => void
    const onAuthFailed = vi.fn(() => new Promise<boolean>((r) => (answer = r)))
    const { live } = await goLive({ onAuthFailed })
    FakeSocket.last.fireClose(4001)
    live.stop()
    live.start() // the next user
    FakeSocket.last.open()
    FakeSocket.last.send({ type: 'sensors', P1: reading(5) })
    const sockets = FakeSocket.all.length
    answer(true)
    await vi.advanceTimersByTimeAsync(STALE_MS - 1000) // past any backoff, short of stale
    expect(FakeSocket.all).toHaveLength(sockets) // no second socket
    expect(live.state.link).toBe('live')
  })

  it('stop() closes the socket and stops retrying', async () => {
    const { live } = await goLive()
    const sock = FakeSocket.last
    live.stop()
    expect(sock.closed).toEqual([1000])
    expect(live.state.link).toBe('connecting')
    sock.fireClose(1000)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(FakeSocket.all).toHaveLength(1)
    expect(live.state.attempts).toBe(0)
  })

  it('stop() during the backoff wait cancels the attempt', async () => {
    const { live } = await goLive()
    FakeSocket.last.fireClose(1006)
    expect(live.state.attempts).toBe(1)
    live.stop()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(FakeSocket.all).toHaveLength(1)
    expect(live.state.attempts).toBe(0)
    expect(live.state.retryAt).toBe(0)
  })

  it('retryNow() skips the wait', async () => {
    const { live } = await goLive()
    for (let i = 0; i < 5; i++) {
      FakeSocket.last.fireClose(1006)
      vi.advanceTimersByTime(backoff(i + 1, () => 0.5))
    }
    FakeSocket.last.fireClose(1006)
    expect(live.state.attempts).toBe(6)
    expect(live.state.retryAt).toBe(Date.now() + 10_000)
    const n = FakeSocket.all.length
    live.retryNow()
    expect(FakeSocket.all).toHaveLength(n + 1)
    // and the skipped timer does not fire a second socket
    vi.advanceTimersByTime(10_000)
    expect(FakeSocket.all).toHaveLength(n + 1)
  })

  it('retryNow() while connected does nothing', async () => {
    const { live } = await goLive()
    live.retryNow()
    expect(FakeSocket.all).toHaveLength(1)
  })
})
