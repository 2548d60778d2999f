// The arithmetic of the Trends screen, without Vue or uPlot: the time ranges, the history
// API's URLs, its answer as uPlot data, zoom and pan of the time window, the threshold lines
// and the axis labels. Times are unix milliseconds except in PlotData, where uPlot wants
// seconds.
import type { Quality, SensorMeta, Status } from '../stores/live'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

export type RangeId = '15m' | '1h' | '8h' | '24h' | '7d'

/** RangeDef is one of the range buttons: its id (also the test id's tail) and length. */
export interface RangeDef {
  readonly id: RangeId
  readonly ms: number
}

/** RANGES are the range buttons, shortest first. */
export const RANGES: readonly RangeDef[] = Object.freeze([
  { id: '15m', ms: 15 * MINUTE },
  { id: '1h', ms: HOUR },
  { id: '8h', ms: 8 * HOUR },
  { id: '24h', ms: DAY },
  { id: '7d', ms: 7 * DAY },
] as const)

export const DEFAULT_RANGE: RangeId = '1h'
/** MIN_SPAN_MS is the narrowest window zooming in reaches. */
export const MIN_SPAN_MS = MINUTE
/** MAX_SPAN_MS is the widest window zooming out reaches (the server allows 400 days). */
export const MAX_SPAN_MS = 31 * DAY
/** MAX_POINTS is the server's limit of max_points. */
export const MAX_POINTS = 10_000
/** A time gap longer than GAP_FACTOR typical steps breaks the line (the daemon was off). */
export const GAP_FACTOR = 5

/** TimeWindow is the shown stretch of time, unix ms. */
export interface TimeWindow {
  start: number
  end: number
}

/** isRangeId tells a string that names one of RANGES (say from the URL's query). */
export function isRangeId(v: unknown): v is RangeId {
  return RANGES.some((r) => r.id === v)
}

/** rangeWindow is the window of a range button: its length, ending now. */
export function rangeWindow(id: RangeId, now: number): TimeWindow {
  const r = RANGES.find((x) => x.id === id) ?? RANGES[1]
  return { start: now - r.ms, end: now }
}

/** clampWindow keeps a window's length between MIN_SPAN_MS and MAX_SPAN_MS (around its
 *  middle) and its end no later than now (shifting it, not shrinking it). */
export function clampWindow(w: TimeWindow, now: number): TimeWindow {
  let span = w.end - w.start
  if (!Number.isFinite(span)) return rangeWindow(DEFAULT_RANGE, now)
  const mid = (w.start + w.end) / 2
  span = Math.min(MAX_SPAN_MS, Math.max(MIN_SPAN_MS, span))
  let end = mid + span / 2
  if (end > now) end = now
  return { start: end - span, end }
}

/** zoomWindow scales a window's length by factor (below 1 zooms in) keeping the time at
 *  anchor (0 = left edge, 1 = right edge) where it is on screen, then clamps it. */
export function zoomWindow(w: TimeWindow, factor: number, anchor: number, now: number): TimeWindow {
  if (!(factor > 0) || !Number.isFinite(factor)) return clampWindow(w, now)
  const a = Math.min(1, Math.max(0, anchor))
  const span = w.end - w.start
  const newSpan = Math.min(MAX_SPAN_MS, Math.max(MIN_SPAN_MS, span * factor))
  const at = w.start + a * span
  const start = at - a * newSpan
  return clampWindow({ start, end: start + newSpan }, now)
}

/** panWindow moves a window by fraction of its length (positive = later), then clamps it. */
export function panWindow(w: TimeWindow, fraction: number, now: number): TimeWindow {
  const d = Number.isFinite(fraction) ? fraction * (w.end - w.start) : 0
  return clampWindow({ start: w.start + d, end: w.end + d }, now)
}

/** isLive tells a window that ends now (within 1 % of its length or a second), so that it
 *  should keep following the newest readings. */
export function isLive(w: TimeWindow, now: number): boolean {
  return w.end >= now - Math.max(1000, (w.end - w.start) / 100)
}

/** refreshMs is how often a live window is fetched again: about one pixel in 360 of its
 *  length, from 5 s to a minute. */
export function refreshMs(span: number): number {
  return Math.min(60_000, Math.max(5_000, Math.round(span / 360)))
}

/** maxPointsFor is the max_points of a chart: its plot area's CSS width in pixels, rounded,
 *  within what the server accepts. */
export function maxPointsFor(widthPx: number): number {
  if (!Number.isFinite(widthPx)) return 2
  return Math.min(MAX_POINTS, Math.max(2, Math.round(widthPx)))
}

function rangeQuery(w: TimeWindow): URLSearchParams {
  return new URLSearchParams({
    start_time: new Date(Math.round(w.start)).toISOString(),
    end_time: new Date(Math.round(w.end)).toISOString(),
  })
}

/** historyPath is the history API's URL of a sensor's window, downsampled to maxPoints. */
export function historyPath(sensor: string, w: TimeWindow, maxPoints: number): string {
  const q = rangeQuery(w)
  q.set('max_points', String(maxPointsFor(maxPoints)))
  return `/api/sensors/${encodeURIComponent(sensor)}/history?${q}`
}

/** csvPath is the URL of every reading of a sensor's window as a CSV download. */
export function csvPath(sensor: string, w: TimeWindow): string {
  const q = rangeQuery(w)
  q.set('format', 'csv')
  return `/api/sensors/${encodeURIComponent(sensor)}/history?${q}`
}

/** HistoryPoint is a reading, or when downsampled a bucket (mean, min, max, count). */
export interface HistoryPoint {
  value: number | null
  status: Status
  quality: Quality
  timestamp: string
  min?: number | null
  max?: number | null
  count?: number
}

/** HistoryAnswer is GET /api/sensors/{id}/history. */
export interface HistoryAnswer {
  sensor_id: string
  unit: string
  start_time: string
  end_time: string
  count: number
  downsampled: boolean
  bucket_seconds?: number
  points: HistoryPoint[]
}

/** PlotData is a history answer as uPlot draws it: times in unix seconds, the value (mean of
 *  a bucket) and, when downsampled, the bucket's min and max; null breaks a line. */
export interface PlotData {
  x: number[]
  mean: (number | null)[]
  min: (number | null)[]
  max: (number | null)[]
  /** the points with a value, that is the points drawn */
  drawn: number
  /** the points in the answer, drawn or not (a fault has no value) */
  total: number
  downsampled: boolean
  /** the width of a bucket, seconds; 0 when not downsampled */
  bucketSeconds: number
}

function num(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}

function median(xs: number[]): number {
  if (!xs.length) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** toPlotData turns a history answer into uPlot's columns. A bucket is drawn at its middle
 *  (the API stamps it with its start); a bad raw reading is a gap; a time gap of more than
 *  GAP_FACTOR typical steps gets a null point so the line does not bridge it. */
export function toPlotData(a: HistoryAnswer): PlotData {
  const half = a.downsampled ? (a.bucket_seconds ?? 0) / 2 : 0
  const pts = a.points
    .map((p) => ({
      t: Date.parse(p.timestamp) / 1000 + half,
      v: !a.downsampled && p.quality === 'bad' ? null : num(p.value),
      lo: a.downsampled ? num(p.min) : null,
      hi: a.downsampled ? num(p.max) : null,
    }))
    .filter((p) => Number.isFinite(p.t))
  const steps: number[] = []
  for (let i = 1; i < pts.length; i++) steps.push(pts[i].t - pts[i - 1].t)
  const gap = steps.length >= 2 ? GAP_FACTOR * median(steps) : Infinity
  const d: PlotData = {
    x: [], mean: [], min: [], max: [],
    drawn: 0, total: a.points.length, downsampled: a.downsampled, bucketSeconds: a.downsampled ? (a.bucket_seconds ?? 0) : 0,
  }
  pts.forEach((p, i) => {
    if (i > 0 && p.t - pts[i - 1].t > gap) {
      d.x.push((p.t + pts[i - 1].t) / 2)
      d.mean.push(null)
      d.min.push(null)
      d.max.push(null)
    }
    d.x.push(p.t)
    d.mean.push(p.v)
    d.min.push(p.lo)
    d.max.push(p.hi)
    if (p.v !== null) d.drawn++
  })
  return d
}

export type LineKind = 'warning' | 'critical'

/** ThresholdLine is a horizontal line where a band starts. */
export interface ThresholdLine {
  value: number
  kind: LineKind
}

/** thresholdLines are where warning starts (the normal band's edges) and where critical
 *  starts (the warning band's edges). Lines on or outside the sensor's range are left out,
 *  as is a warning line where critical starts too (no warning band on that side). */
export function thresholdLines(meta: Pick<SensorMeta, 'range' | 'normal' | 'warning'>): ThresholdLine[] {
  const [lo, hi] = meta.range
  const inside = (v: number) => Number.isFinite(v) && v > lo && v < hi
  const out: ThresholdLine[] = []
  for (const v of meta.warning) {
    if (inside(v) && !out.some((l) => l.value === v)) out.push({ value: v, kind: 'critical' })
  }
  for (const v of meta.normal) {
    if (inside(v) && !out.some((l) => l.value === v)) out.push({ value: v, kind: 'warning' })
  }
  return out.sort((a, b) => a.value - b.value)
}

export type YMode = 'range' | 'fit'

/** yRange is the value axis: the sensor's range, or with 'fit' the data's extent with 5 %
 *  margin (the range when there is no data). */
export function yRange(range: readonly [number, number], data: PlotData | null, mode: YMode): [number, number] {
  if (mode === 'range' || !data) return [range[0], range[1]]
  let lo = Infinity
  let hi = -Infinity
  for (const col of [data.mean, data.min, data.max]) {
    for (const v of col) {
      if (v === null) continue
      if (v < lo) lo = v
      if (v > hi) hi = v
    }
  }
  if (!(hi >= lo)) return [range[0], range[1]]
  const pad = hi > lo ? (hi - lo) * 0.05 : Math.max(Math.abs(hi) * 0.01, (range[1] - range[0]) * 0.01, 1e-6)
  return [lo - pad, hi + pad]
}

/** stepDecimals is how many digits after the point a tick step needs (0.25 needs 2). */
export function stepDecimals(step: number): number {
  if (!Number.isFinite(step) || step <= 0) return 0
  for (let d = 0; d < 6; d++) {
    const s = step * 10 ** d
    if (Math.abs(s - Math.round(s)) < 1e-6 * Math.max(1, s)) return d
  }
  return 6
}

/** valueTick spells a value-axis tick in the locale with the digits its step needs. */
export function valueTick(v: number, step: number, locale: string): string {
  const d = stepDecimals(step)
  return v.toLocaleString(locale, { minimumFractionDigits: d, maximumFractionDigits: d, useGrouping: false })
}

/** timeTickOptions are how the time axis spells a tick for a window of span ms: seconds
 *  for a few minutes, hours and minutes up to a day and a half, the date beyond. 24-hour. */
export function timeTickOptions(span: number): Intl.DateTimeFormatOptions {
  const o: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }
  if (span <= 10 * MINUTE) o.second = '2-digit'
  if (span > 36 * HOUR) Object.assign(o, { day: '2-digit', month: '2-digit' })
  return o
}

/** timeTick spells a time-axis tick (ms) for a window of span ms in the locale. */
export function timeTick(ms: number, span: number, locale: string, timeZone?: string): string {
  return new Date(ms).toLocaleString(locale, { ...timeTickOptions(span), timeZone })
}

/** formatStamp spells a moment with date and time, 24-hour, for the period and readout. */
export function formatStamp(ms: number, locale: string, timeZone?: string): string {
  return new Date(ms).toLocaleString(locale, {
    year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZone,
  })
}

/** Debounced is a function whose calls wait until none came for a while. */
export interface Debounced {
  (): void
  /** cancel drops a waiting call */
  cancel(): void
}

/** debounce calls fn once, ms after the last of a burst of calls. */
export function debounce(fn: () => void, ms: number): Debounced {
  let timer: ReturnType<typeof setTimeout> | null = null
  const d = (() => {
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = null
      fn()
    }, ms)
  }) as Debounced
  d.cancel = () => {
    if (timer !== null) clearTimeout(timer)
    timer = null
  }
  return d
}

/** formatPeriod spells a window as "from – to", the date left out of "to" when it is the
 *  same day as "from". */
export function formatPeriod(w: TimeWindow, locale: string, timeZone?: string): string {
  const from = formatStamp(w.start, locale, timeZone)
  const day = (ms: number) => new Date(ms).toLocaleDateString(locale, { timeZone })
  const to =
    day(w.start) === day(w.end)
      ? new Date(w.end).toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZone })
      : formatStamp(w.end, locale, timeZone)
  return `${from} – ${to}`
}

/** formatDuration spells a bucket's width shortly: "2,8 s", "8 min", "1,5 h". */
export function formatDuration(seconds: number, locale: string): string {
  const f = (v: number, unit: string) =>
    `${v.toLocaleString(locale, { maximumFractionDigits: v < 10 ? 1 : 0, useGrouping: false })} ${unit}`
  if (seconds < 60) return f(seconds, 's')
  if (seconds < 3600) return f(seconds / 60, 'min')
  return f(seconds / 3600, 'h')
}
