import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  MAX_SPAN_MS, MIN_SPAN_MS, RANGES, clampWindow, csvPath, debounce, formatDuration, formatPeriod, formatStamp,
  historyPath, isLive, isRangeId, maxPointsFor, panWindow, rangeWindow, refreshMs, stepDecimals, thresholdLines,
  timeTick, toPlotData, valueTick, yRange, zoomWindow, type HistoryAnswer, type HistoryPoint, type PlotData,
} from './trend'
import { trends } from '../i18n/trends'

const MIN = 60_000
const HOUR = 60 * MIN
const NOW = Date.UTC(2026, 10, 27, 12, 0, 0)

describe('rangeWindow', () => {
  it.each([
    ['15m', 15 * MIN],
    ['1h', HOUR],
    ['8h', 8 * HOUR],
    ['24h', 24 * HOUR],
    ['7d', 7 * 24 * HOUR],
  ] as const)('%s ends now and lasts %i ms', (id, ms) => {
    expect(rangeWindow(id, NOW)).toEqual({ start: NOW - ms, end: NOW })
  })

  it('has the five buttons of the issue, shortest first', () => {
    expect(RANGES.map((r) => r.id)).toEqual(['15m', '1h', '8h', '24h', '7d'])
  })
})

describe('isRangeId', () => {
  it.each([
    ['1h', true],
    ['7d', true],
    ['2h', false],
    ['', false],
    [undefined, false],
    [['1h'], false],
  ])('%j -> %s', (v, want) => {
    expect(isRangeId(v)).toBe(want)
  })
})

describe('clampWindow', () => {
  it.each([
    { name: 'inside the limits and in the past: unchanged', w: { start: NOW - 2 * HOUR, end: NOW - HOUR }, want: { start: NOW - 2 * HOUR, end: NOW - HOUR } },
    { name: 'in the future: shifted back to end now', w: { start: NOW - HOUR / 2, end: NOW + HOUR / 2 }, want: { start: NOW - HOUR, end: NOW } },
    { name: 'too narrow: widened about its middle', w: { start: NOW - HOUR, end: NOW - HOUR + 1000 }, want: { start: NOW - HOUR + 500 - MIN_SPAN_MS / 2, end: NOW - HOUR + 500 + MIN_SPAN_MS / 2 } },
    { name: 'too wide: narrowed about its middle', w: { start: NOW - 2 * MAX_SPAN_MS, end: NOW }, want: { start: NOW - 1.5 * MAX_SPAN_MS, end: NOW - 0.5 * MAX_SPAN_MS } },
    { name: 'inverted: treated as too narrow', w: { start: NOW - HOUR, end: NOW - 2 * HOUR }, want: { start: NOW - 1.5 * HOUR - MIN_SPAN_MS / 2, end: NOW - 1.5 * HOUR + MIN_SPAN_MS / 2 } },
  ])('$name', ({ w, want }) => {
    expect(clampWindow(w, NOW)).toEqual(want)
  })

  it('turns a window that is not a number into the default range', () => {
    expect(clampWindow({ start: NaN, end: NOW }, NOW)).toEqual(rangeWindow('1h', NOW))
  })
})

describe('zoomWindow', () => {
  const w = { start: NOW - 3 * HOUR, end: NOW - HOUR } // 2 h, in the past
  it.each([
    { name: 'in about the middle', factor: 0.5, anchor: 0.5, want: { start: NOW - 2.5 * HOUR, end: NOW - 1.5 * HOUR } },
    { name: 'in about the left edge', factor: 0.5, anchor: 0, want: { start: NOW - 3 * HOUR, end: NOW - 2 * HOUR } },
    { name: 'in about the right edge', factor: 0.5, anchor: 1, want: { start: NOW - 2 * HOUR, end: NOW - HOUR } },
    { name: 'out about the middle, stopped at now', factor: 2, anchor: 0.5, want: { start: NOW - 4 * HOUR, end: NOW } },
    { name: 'out about the left edge, shifted back from the future', factor: 2, anchor: 0, want: { start: NOW - 4 * HOUR, end: NOW } },
    { name: 'an anchor past the edge counts as the edge', factor: 0.5, anchor: 7, want: { start: NOW - 2 * HOUR, end: NOW - HOUR } },
    { name: 'a factor that is no number changes nothing', factor: NaN, anchor: 0.5, want: w },
    { name: 'a negative factor changes nothing', factor: -2, anchor: 0.5, want: w },
    { name: 'in stops at the narrowest window', factor: 1e-9, anchor: 0.5, want: { start: NOW - 2 * HOUR - MIN_SPAN_MS / 2, end: NOW - 2 * HOUR + MIN_SPAN_MS / 2 } },
  ])('$name', ({ factor, anchor, want }) => {
    expect(zoomWindow(w, factor, anchor, NOW)).toEqual(want)
  })

  it('keeps a live window live when zooming about its right edge', () => {
    const z = zoomWindow(rangeWindow('1h', NOW), 0.5, 1, NOW)
    expect(z).toEqual({ start: NOW - HOUR / 2, end: NOW })
    expect(isLive(z, NOW)).toBe(true)
  })

  it('stops at the widest window', () => {
    const z = zoomWindow(rangeWindow('7d', NOW), 100, 1, NOW)
    expect(z.end - z.start).toBe(MAX_SPAN_MS)
  })
})

describe('panWindow', () => {
  const w = { start: NOW - 3 * HOUR, end: NOW - HOUR }
  it.each([
    { name: 'earlier by a quarter', f: -0.25, want: { start: NOW - 3.5 * HOUR, end: NOW - 1.5 * HOUR } },
    { name: 'later by a quarter', f: 0.25, want: { start: NOW - 2.5 * HOUR, end: NOW - 0.5 * HOUR } },
    { name: 'later past now: stops at now', f: 2, want: { start: NOW - 2 * HOUR, end: NOW } },
    { name: 'by nothing', f: 0, want: w },
    { name: 'by a fraction that is no number: not at all', f: NaN, want: w },
  ])('$name', ({ f, want }) => {
    expect(panWindow(w, f, NOW)).toEqual(want)
  })
})

describe('isLive', () => {
  it.each([
    { name: 'ends now', w: { start: NOW - HOUR, end: NOW }, want: true },
    { name: 'ends within 1 % of its length', w: { start: NOW - HOUR, end: NOW - 30_000 }, want: true },
    { name: 'ends more than 1 % before now', w: { start: NOW - HOUR, end: NOW - 40_000 }, want: false },
    { name: 'a short window gets a second of slack', w: { start: NOW - MIN, end: NOW - 900 }, want: true },
    { name: 'a short window ending 2 s ago', w: { start: NOW - MIN, end: NOW - 2000 }, want: false },
  ])('$name', ({ w, want }) => {
    expect(isLive(w, NOW)).toBe(want)
  })
})

describe('refreshMs', () => {
  it.each([
    [15 * MIN, 5_000],
    [HOUR, 10_000],
    [8 * HOUR, 60_000],
    [7 * 24 * HOUR, 60_000],
  ])('a window of %i ms refreshes every %i ms', (span, want) => {
    expect(refreshMs(span)).toBe(want)
  })
})

describe('maxPointsFor', () => {
  it.each([
    [1180.4, 1180],
    [1180.5, 1181],
    [0, 2],
    [1, 2],
    [-50, 2],
    [NaN, 2],
    [Infinity, 2],
    [20_000, 10_000],
  ])('width %d -> %i points', (w, want) => {
    expect(maxPointsFor(w)).toBe(want)
  })
})

describe('URLs', () => {
  const w = { start: Date.UTC(2026, 0, 2, 3, 4, 5, 6), end: Date.UTC(2026, 0, 2, 4, 4, 5, 6) }

  it('asks the history of the window with max_points', () => {
    const u = new URL(historyPath('P1', w, 1234.4), 'http://x')
    expect(u.pathname).toBe('/api/sensors/P1/history')
    expect(Object.fromEntries(u.searchParams)).toEqual({
      start_time: '2026-01-02T03:04:05.006Z',
      end_time: '2026-01-02T04:04:05.006Z',
      max_points: '1234',
    })
  })

  it('keeps max_points within what the server accepts', () => {
    expect(new URL(historyPath('P1', w, 0), 'http://x').searchParams.get('max_points')).toBe('2')
  })

  it('escapes the sensor id', () => {
    expect(historyPath('P 1/x', w, 10)).toMatch(/^\/api\/sensors\/P%201%2Fx\/history\?/)
    expect(csvPath('P 1/x', w)).toMatch(/^\/api\/sensors\/P%201%2Fx\/history\?/)
  })

  it('asks the same range as CSV, without max_points', () => {
    const u = new URL(csvPath('P2', w), 'http://x')
    expect(u.pathname).toBe('/api/sensors/P2/history')
    expect(Object.fromEntries(u.searchParams)).toEqual({
      start_time: '2026-01-02T03:04:05.006Z',
      end_time: '2026-01-02T04:04:05.006Z',
      format: 'csv',
    })
  })
})

function answer(points: Partial<HistoryPoint>[], extra: Partial<HistoryAnswer> = {}): HistoryAnswer {
  return {
    sensor_id: 'P1', unit: 'bar', start_time: '', end_time: '', count: points.length, downsampled: false,
    points: points.map((p) => ({ value: null, status: 'normal', quality: 'good', timestamp: '', ...p })),
    ...extra,
  }
}
const ts = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString()
const T0 = Date.UTC(2026, 0, 1) / 1000

describe('toPlotData', () => {
  it('draws raw readings at their times, a bad one as a gap', () => {
    const d = toPlotData(answer([
      { value: 1, timestamp: ts(0) },
      { value: 2, timestamp: ts(1) },
      { value: null, quality: 'bad', timestamp: ts(2) },
      { value: 9, quality: 'bad', timestamp: ts(3) },
      { value: 4, timestamp: ts(4) },
    ]))
    expect(d.x).toEqual([T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4])
    expect(d.mean).toEqual([1, 2, null, null, 4])
    expect(d.min).toEqual([null, null, null, null, null])
    expect(d.max).toEqual([null, null, null, null, null])
    expect(d.drawn).toBe(3)
    expect(d.total).toBe(5)
    expect(d.downsampled).toBe(false)
    expect(d.bucketSeconds).toBe(0)
  })

  it('draws a bucket at its middle with its min and max, even when part of it was bad', () => {
    const d = toPlotData(answer([
      { value: 5, min: 4, max: 6, count: 10, timestamp: ts(0) },
      { value: 5.5, min: 5, max: 7, count: 10, quality: 'bad', timestamp: ts(10) },
      { value: null, count: 10, quality: 'bad', timestamp: ts(20) },
    ], { downsampled: true, bucket_seconds: 10 }))
    expect(d.x).toEqual([T0 + 5, T0 + 15, T0 + 25])
    expect(d.mean).toEqual([5, 5.5, null])
    expect(d.min).toEqual([4, 5, null])
    expect(d.max).toEqual([6, 7, null])
    expect(d.drawn).toBe(2)
    expect(d.downsampled).toBe(true)
    expect(d.bucketSeconds).toBe(10)
  })

  it('breaks the line where the readings stopped for a while', () => {
    const d = toPlotData(answer([
      { value: 1, timestamp: ts(0) },
      { value: 1, timestamp: ts(1) },
      { value: 1, timestamp: ts(2) },
      { value: 2, timestamp: ts(100) },
      { value: 2, timestamp: ts(101) },
    ]))
    expect(d.x).toEqual([T0, T0 + 1, T0 + 2, T0 + 51, T0 + 100, T0 + 101])
    expect(d.mean).toEqual([1, 1, 1, null, 2, 2])
    expect(d.drawn).toBe(5)
    expect(d.total).toBe(5)
  })

  it('does not break on jitter within a few steps', () => {
    const d = toPlotData(answer([0, 1, 2, 5, 6, 7].map((s) => ({ value: 1, timestamp: ts(s) }))))
    expect(d.mean).not.toContain(null)
    expect(d.x).toHaveLength(6)
  })

  it('gives empty columns for no points', () => {
    const d = toPlotData(answer([]))
    expect(d).toMatchObject({ x: [], mean: [], min: [], max: [], drawn: 0, total: 0 })
  })

  it('leaves out a point whose time does not parse', () => {
    const d = toPlotData(answer([{ value: 1, timestamp: 'yesterday' }, { value: 2, timestamp: ts(0) }]))
    expect(d.x).toEqual([T0])
    expect(d.mean).toEqual([2])
  })
})

describe('thresholdLines', () => {
  it.each([
    {
      name: 'P1: all four inside the range',
      meta: { range: [0, 10], normal: [2, 8], warning: [1.5, 9] },
      want: [{ value: 1.5, kind: 'critical' }, { value: 2, kind: 'warning' }, { value: 8, kind: 'warning' }, { value: 9, kind: 'critical' }],
    },
    {
      name: 'lines on or outside the range are left out',
      meta: { range: [0, 10], normal: [0, 8], warning: [-1, 10] },
      want: [{ value: 8, kind: 'warning' }],
    },
    {
      name: 'no warning band below: only the critical line',
      meta: { range: [0, 1000], normal: [100, 800], warning: [100, 900] },
      want: [{ value: 100, kind: 'critical' }, { value: 800, kind: 'warning' }, { value: 900, kind: 'critical' }],
    },
  ] as const)('$name', ({ meta, want }) => {
    expect(thresholdLines(meta as never)).toEqual(want)
  })
})

describe('yRange', () => {
  const data = (mean: (number | null)[], min: (number | null)[] = [], max: (number | null)[] = []): PlotData => ({
    x: mean.map((_, i) => i), mean, min, max, drawn: 0, total: mean.length, downsampled: false, bucketSeconds: 0,
  })
  it.each([
    { name: 'range mode: the sensor range', d: data([3, 4]), mode: 'range', want: [0, 10] },
    { name: 'fit: the data with 5 % margin', d: data([3, 5]), mode: 'fit', want: [2.9, 5.1] },
    { name: 'fit: min and max count', d: data([3, null], [1], [7]), mode: 'fit', want: [0.7, 7.3] },
    { name: 'fit with no values: the sensor range', d: data([null]), mode: 'fit', want: [0, 10] },
    { name: 'fit with no data: the sensor range', d: null, mode: 'fit', want: [0, 10] },
    { name: 'fit a flat line: a margin of 1 % of the range', d: data([4, 4]), mode: 'fit', want: [3.9, 4.1] },
  ] as const)('$name', ({ d, mode, want }) => {
    const [lo, hi] = yRange([0, 10], d, mode)
    expect(lo).toBeCloseTo(want[0], 9)
    expect(hi).toBeCloseTo(want[1], 9)
  })
})

describe('value ticks', () => {
  it.each([
    [1, 0],
    [0.5, 1],
    [0.25, 2],
    [0.1 + 0.2, 1],
    [100, 0],
    [0.001, 3],
    [0, 0],
    [NaN, 0],
  ])('step %d needs %i decimals', (step, want) => {
    expect(stepDecimals(step)).toBe(want)
  })

  it.each([
    [2.5, 0.5, 'pl-PL', '2,5'],
    [2.5, 0.5, 'en-GB', '2.5'],
    [2, 0.25, 'pl-PL', '2,00'],
    [1000, 100, 'pl-PL', '1000'],
  ])('%d with step %d in %s is %s', (v, step, locale, want) => {
    expect(valueTick(v, step, locale)).toBe(want)
  })
})

describe('time labels', () => {
  const at = Date.UTC(2026, 10, 27, 13, 5, 9)
  it.each([
    { span: 5 * MIN, locale: 'pl-PL', want: '14:05:09' },
    { span: HOUR, locale: 'pl-PL', want: '14:05' },
    { span: HOUR, locale: 'en-GB', want: '14:05' },
    { span: 7 * 24 * HOUR, locale: 'pl-PL', want: '27.11, 14:05' },
    { span: 7 * 24 * HOUR, locale: 'en-GB', want: '27/11, 14:05' },
  ])('a tick of a $span ms window in $locale is $want', ({ span, locale, want }) => {
    expect(timeTick(at, span, locale, 'Europe/Warsaw')).toBe(want)
  })

  it('uses the 24-hour clock in English too', () => {
    expect(timeTick(Date.UTC(2026, 10, 27, 0, 5), HOUR, 'en-GB', 'UTC')).toBe('00:05')
    expect(timeTick(Date.UTC(2026, 10, 27, 23, 5), HOUR, 'en-GB', 'UTC')).toBe('23:05')
  })

  it('spells a moment with its date', () => {
    expect(formatStamp(at, 'pl-PL', 'Europe/Warsaw')).toBe('27.11.2026, 14:05:09')
    expect(formatStamp(at, 'en-GB', 'Europe/Warsaw')).toBe('27/11/2026, 14:05:09')
  })

  it.each([
    { name: 'the same day: the date once', w: { start: at - HOUR, end: at }, want: '27.11.2026, 13:05:09 – 14:05:09' },
    { name: 'over midnight: both dates', w: { start: at - 24 * HOUR, end: at }, want: '26.11.2026, 14:05:09 – 27.11.2026, 14:05:09' },
  ])('a period on $name', ({ w, want }) => {
    expect(formatPeriod(w, 'pl-PL', 'Europe/Warsaw')).toBe(want)
  })

  it.each([
    [2.8, 'pl-PL', '2,8 s'],
    [45, 'en-GB', '45 s'],
    [504, 'pl-PL', '8,4 min'],
    [1800, 'pl-PL', '30 min'],
    [5400, 'en-GB', '1.5 h'],
  ])('a bucket of %d s in %s is %s', (s, locale, want) => {
    expect(formatDuration(s, locale)).toBe(want)
  })
})

describe('debounce', () => {
  afterEach(() => vi.useRealTimers())

  it('calls once, after the last call of a burst has rested', () => {
    vi.useFakeTimers()
    const fn = vi.fn()
    const d = debounce(fn, 300)
    d()
    vi.advanceTimersByTime(200)
    d()
    vi.advanceTimersByTime(299)
    expect(fn).not.toHaveBeenCalled()
    vi.advanceTimersByTime(1)
    expect(fn).toHaveBeenCalledTimes(1)
    vi.advanceTimersByTime(1000)
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it('cancel drops the waiting call', () => {
    vi.useFakeTimers()
    const fn = vi.fn()
    const d = debounce(fn, 300)
    d()
    d.cancel()
    vi.advanceTimersByTime(1000)
    expect(fn).not.toHaveBeenCalled()
  })
})

describe('the words of the screen', () => {
  it('has every key in both languages, prefixed trends.', () => {
    expect(Object.keys(trends.en).sort()).toEqual(Object.keys(trends.pl).sort())
    for (const k of Object.keys(trends.pl)) expect(k).toMatch(/^trends\./)
  })

  it('names every range button in both languages', () => {
    for (const r of RANGES) {
      expect(trends.pl['trends.range.' + r.id]).toBeTruthy()
      expect(trends.en['trends.range.' + r.id]).toBeTruthy()
    }
  })
})
