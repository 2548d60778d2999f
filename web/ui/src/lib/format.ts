// How readings are shown: the status a tile shows, digits, and the bands of a range bar.
import type { Reading, SensorMeta } from '../stores/live'
import type { Alert } from '../stores/alerts'
import { ApiError } from './api'
import type { Lang } from './i18n'

export type Shown = 'normal' | 'warning' | 'critical' | 'fault' | 'nodata'

/** shownStatus is what a tile says: a bad reading is a fault, never a stale number. So is a
 *  reading whose status is unknown, which the server sends only with a failed read. */
export function shownStatus(r: Reading | undefined): Shown {
  if (!r) return 'nodata'
  if (r.quality === 'bad' || r.value === null || r.value === undefined || r.status === 'unknown') return 'fault'
  return r.status
}

/** ALERT_KIND is how an alert of each type is coloured and which priority shape it takes. A
 *  device fault is red: data may be lost, and the operator must not miss it. */
export const ALERT_KIND: Readonly<Record<Alert['type'], Extract<Shown, 'critical' | 'warning' | 'fault'>>> = {
  CRITICAL: 'critical',
  WARNING: 'warning',
  SENSOR_FAULT: 'fault',
  DEVICE_FAULT: 'critical',
}

/** decimals gives a value's digits after the point from its sensor's span: 0-10 bar shows
 *  hundredths, 0-1000 mbar whole numbers, so the last digit is about a thousandth of the span. */
export function decimals(meta: Pick<SensorMeta, 'range'> | undefined): number {
  if (!meta) return 2
  const span = Math.abs(meta.range[1] - meta.range[0])
  if (span <= 20) return 2
  if (span <= 200) return 1
  return 0
}

/** formatValue spells a value with the sensor's digits in the locale ("5,02" in Polish). */
export function formatValue(v: number | null | undefined, meta: Pick<SensorMeta, 'range'> | undefined, locale: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—'
  const d = decimals(meta)
  return v.toLocaleString(locale, { minimumFractionDigits: d, maximumFractionDigits: d, useGrouping: false })
}

export type BandKind = 'normal' | 'warning' | 'critical'

/** Segment is a stretch of a range bar, from and to in percent of the range. */
export interface Segment {
  kind: BandKind
  from: number
  to: number
}

/** segments splits a sensor's range into its critical, warning and normal stretches. */
export function segments(meta: Pick<SensorMeta, 'range' | 'normal' | 'warning'>): Segment[] {
  const [lo, hi] = meta.range
  const span = hi - lo
  if (!(span > 0)) return []
  const pct = (v: number) => Math.min(100, Math.max(0, ((v - lo) / span) * 100))
  const edges: [number, BandKind][] = [
    [meta.warning[0], 'critical'],
    [meta.normal[0], 'warning'],
    [meta.normal[1], 'normal'],
    [meta.warning[1], 'warning'],
    [hi, 'critical'],
  ]
  const out: Segment[] = []
  let from = 0
  for (const [edge, kind] of edges) {
    const to = pct(edge)
    if (to > from) out.push({ kind, from, to })
    from = Math.max(from, to)
  }
  return out
}

/** position is where a value sits on its range bar, in percent, clamped to the bar. */
export function position(v: number | null | undefined, meta: Pick<SensorMeta, 'range'>): number | null {
  if (v === null || v === undefined || !Number.isFinite(v)) return null
  const [lo, hi] = meta.range
  if (!(hi > lo)) return null
  return Math.min(100, Math.max(0, ((v - lo) / (hi - lo)) * 100))
}

/** formatTime spells a time of day, 24-hour, with seconds. */
export function formatTime(t: number | string | Date, locale: string, withDate = false): string {
  const d = new Date(t)
  const opts: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }
  if (withDate) Object.assign(opts, { year: 'numeric', month: '2-digit', day: '2-digit' })
  return d.toLocaleString(locale, opts)
}

/** ago spells how long ago t was, roughly: "12 s", "3 min", "2 h". */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 90) return `${s} s`
  if (s < 90 * 60) return `${Math.round(s / 60)} min`
  return `${Math.round(s / 3600)} h`
}

/** alertText says what an alert is about in the UI's language: the server's message is
 *  English, so a value alert is spelled here from its value and threshold. */
export function alertText(
  a: Pick<Alert, 'type' | 'sensor_id' | 'value' | 'threshold' | 'message'> &
    Partial<Pick<Alert, 'escalated_at' | 'escalated_value' | 'escalated_threshold'>>,
  meta: SensorMeta | undefined,
  t: (key: string, params?: Record<string, string | number>) => string,
  locale: string,
): string {
  if (a.type === 'DEVICE_FAULT') {
    // The part's own words where the UI has them (alert.device.storage), else generic ones.
    const key = 'alert.device.' + a.sensor_id
    const words = t(key)
    return words !== key ? words : t('alert.device', { part: a.sensor_id })
  }
  const sensor = sensorName(meta, locale) || a.sensor_id
  if (a.type === 'SENSOR_FAULT') {
    const message = faultText(alertFault(a.message), t)
    if (a.value === null || a.value === undefined || !Number.isFinite(a.value)) return t('alert.fault', { sensor, message })
    return t('alert.fault_value', { sensor, message, value: formatValue(a.value, meta, locale), unit: meta?.unit ?? '' })
      .replace(/ +\)/g, ')')
  }
  // An alert that escalated from warning to critical says the critical crossing.
  const up = !!a.escalated_at
  return t('alert.beyond', {
    sensor,
    value: formatValue(up ? a.escalated_value : a.value, meta, locale),
    threshold: formatValue(up ? a.escalated_threshold : a.threshold, meta, locale),
    unit: meta?.unit ?? '',
  })
    .replace(/ +(,|$)/g, '$1') // no gap where a sensor without a unit has none
}

/** sensorName is the sensor's name in the language of locale ("pl-PL": names.pl), its one
 *  name where the daemon gives no names per language, '' without meta. */
export function sensorName(meta: Pick<SensorMeta, 'name' | 'names'> | undefined, locale: string): string {
  if (!meta) return ''
  const lang = locale.slice(0, 2) as Lang
  return meta.names?.[lang] || meta.name
}

/** alertFault is the fault in a sensor fault's message ("Pressure 3: sensor fault: out of
 *  range (1200 mbar)" says "out of range"), or the whole message when it has another shape. */
export function alertFault(message: string): string {
  const m = /sensor fault: (.*?)(?: \([-+\d.eE]+(?: [^()]*)?\))?$/.exec(message)
  return m ? m[1] : message
}

/** alertDetail is what an alert says beyond alertText, '' for most: a device fault's own
 *  account from the daemon (which file, where it is kept, what the device started on, what
 *  is missing), in the daemon's English, since it names files and times the UI cannot know. */
export function alertDetail(a: Pick<Alert, 'type' | 'message'>): string {
  return a.type === 'DEVICE_FAULT' ? a.message : ''
}

/** FAULTS maps what the daemon says of a bad reading (English, from monitor.go and the
 *  errors of hal) to the key of its words; the first match wins. */
const FAULTS: readonly [RegExp, string][] = [
  [/disconnected/i, 'fault.disconnected'], // first: its cause may say "timeout"
  [/out of range/i, 'fault.out_of_range'],
  [/not read yet/i, 'fault.not_read_yet'],
  [/invalid value/i, 'fault.invalid_value'],
  [/no response|timeout|timed out/i, 'fault.timeout'],
  [/checksum|crc|malformed/i, 'fault.crc'],
  [/exception/i, 'fault.exception'],
]

/** faultText says in the UI's language why a reading is bad; a fault it does not know keeps
 *  the daemon's words. */
export function faultText(fault: string | undefined, t: (key: string) => string): string {
  if (!fault) return t('status.fault')
  for (const [re, key] of FAULTS) if (re.test(fault)) return t(key)
  return fault
}

/** errorText says why a request failed in the UI's language: the daemon's messages are
 *  English, so a known error code gets our words, and anything else keeps the message. */
export function errorText(e: unknown, t: (key: string) => string): string {
  if (e instanceof ApiError) {
    const key = 'err.' + e.code
    const words = t(key)
    if (words !== key) return words
  }
  return e instanceof Error ? e.message : String(e)
}
