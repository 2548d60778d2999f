import { describe, expect, it } from 'vitest'
import type { Reading } from '../stores/live'
import { ago, alertDetail, alertFault, alertText, decimals, errorText, faultText, formatValue, position, segments, sensorName, shownStatus } from './format'
import { createI18n } from './i18n'
import { ApiError } from './api'
import { common } from '../i18n/common'

const reading = (over: Partial<Reading> = {}): Reading => ({
  value: 5,
  unit: 'bar',
  status: 'normal',
  quality: 'good',
  timestamp: '2025-03-01T08:00:00Z',
  ...over,
})

describe('shownStatus', () => {
  it.each([
    ['no reading', undefined, 'nodata'],
    ['normal', reading(), 'normal'],
    ['warning', reading({ status: 'warning' }), 'warning'],
    ['critical', reading({ status: 'critical' }), 'critical'],
    ['a failed read (bad, unknown, no value) is a fault', reading({ quality: 'bad', status: 'unknown', value: null }), 'fault'],
    ['an unknown status is a fault even with a good value', reading({ status: 'unknown' }), 'fault'],
    ['bad quality is a fault even with a value', reading({ quality: 'bad', value: 5 }), 'fault'],
    ['bad quality is a fault even when critical', reading({ quality: 'bad', status: 'critical' }), 'fault'],
    ['null value is a fault', reading({ value: null }), 'fault'],
    ['zero is a value, not a fault', reading({ value: 0 }), 'normal'],
  ] as const)('%s → %s', (_name, r, want) => {
    expect(shownStatus(r)).toBe(want)
  })
})

describe('decimals', () => {
  it.each([
    [undefined, 2],
    [[0, 10], 2],
    [[0, 20], 2],
    [[-10, 10], 2],
    [[0, 20.5], 1],
    [[0, 200], 1],
    [[0, 1000], 0],
    [[10, 0], 2], // a reversed range has the same span
  ] as const)('range %j → %i', (range, want) => {
    expect(decimals(range ? { range: [range[0], range[1]] } : undefined)).toBe(want)
  })
})

describe('formatValue', () => {
  const bar = { range: [0, 10] as [number, number] }
  const mbar = { range: [0, 1000] as [number, number] }
  const kpa = { range: [0, 100] as [number, number] }
  it.each([
    [5.02, bar, 'pl-PL', '5,02'],
    [5.02, bar, 'en-GB', '5.02'],
    [5, bar, 'pl-PL', '5,00'],
    [5.016, bar, 'en-GB', '5.02'],
    [-0.5, bar, 'pl-PL', '-0,50'],
    [512.4, mbar, 'pl-PL', '512'],
    [999.6, mbar, 'en-GB', '1000'],
    [1234.5, mbar, 'pl-PL', '1235'], // no grouping separator, even in Polish
    [12345, mbar, 'en-GB', '12345'],
    [42.25, kpa, 'pl-PL', '42,3'],
    [5.02, undefined, 'pl-PL', '5,02'],
    [null, bar, 'pl-PL', '—'],
    [undefined, bar, 'pl-PL', '—'],
    [NaN, bar, 'pl-PL', '—'],
    [Infinity, bar, 'en-GB', '—'],
  ] as const)('%s with %j in %s → %s', (v, meta, locale, want) => {
    expect(formatValue(v, meta, locale)).toBe(want)
  })
})

describe('segments', () => {
  it('P1: range 0-10, normal 2-8, warning 1-9', () => {
    expect(segments({ range: [0, 10], normal: [2, 8], warning: [1, 9] })).toEqual([
      { kind: 'critical', from: 0, to: 10 },
      { kind: 'warning', from: 10, to: 20 },
      { kind: 'normal', from: 20, to: 80 },
      { kind: 'warning', from: 80, to: 90 },
      { kind: 'critical', from: 90, to: 100 },
    ])
  })

  it('an offset range: 100-1100 mbar', () => {
    expect(segments({ range: [100, 1100], normal: [300, 900], warning: [200, 1000] })).toEqual([
      { kind: 'critical', from: 0, to: 10 },
      { kind: 'warning', from: 10, to: 20 },
      { kind: 'normal', from: 20, to: 80 },
      { kind: 'warning', from: 80, to: 90 },
      { kind: 'critical', from: 90, to: 100 },
    ])
  })

  it.each([
    [
      'warning equals the range: no critical stretches',
      { range: [0, 10], normal: [2, 8], warning: [0, 10] },
      [
        { kind: 'warning', from: 0, to: 20 },
        { kind: 'normal', from: 20, to: 80 },
        { kind: 'warning', from: 80, to: 100 },
      ],
    ],
    [
      'warning beyond the range is clamped',
      { range: [0, 10], normal: [2, 8], warning: [-5, 15] },
      [
        { kind: 'warning', from: 0, to: 20 },
        { kind: 'normal', from: 20, to: 80 },
        { kind: 'warning', from: 80, to: 100 },
      ],
    ],
    [
      'normal equals warning: no warning stretches',
      { range: [0, 10], normal: [1, 9], warning: [1, 9] },
      [
        { kind: 'critical', from: 0, to: 10 },
        { kind: 'normal', from: 10, to: 90 },
        { kind: 'critical', from: 90, to: 100 },
      ],
    ],
    [
      'everything normal',
      { range: [0, 10], normal: [0, 10], warning: [0, 10] },
      [{ kind: 'normal', from: 0, to: 100 }],
    ],
    [
      'only a high side',
      { range: [0, 10], normal: [0, 6], warning: [0, 8] },
      [
        { kind: 'normal', from: 0, to: 60 },
        { kind: 'warning', from: 60, to: 80 },
        { kind: 'critical', from: 80, to: 100 },
      ],
    ],
  ] as const)('%s', (_name, m, want) => {
    const got = segments({ range: [...m.range], normal: [...m.normal], warning: [...m.warning] })
    expect(got).toEqual(want)
  })

  it.each([
    [[0, 0]],
    [[10, 0]],
    [[NaN, 10]],
  ])('a degenerate range %j has no segments', (range) => {
    expect(segments({ range: [range[0], range[1]], normal: [2, 8], warning: [1, 9] })).toEqual([])
  })

  it('segments never overlap and cover the bar in order', () => {
    const got = segments({ range: [0, 7], normal: [1.3, 5.9], warning: [0.2, 6.6] })
    expect(got[0].from).toBe(0)
    expect(got.at(-1)!.to).toBe(100)
    for (let i = 1; i < got.length; i++) expect(got[i].from).toBe(got[i - 1].to)
  })
})

describe('position', () => {
  const m = { range: [0, 10] as [number, number] }
  it.each([
    [5, 50],
    [0, 0],
    [10, 100],
    [2.5, 25],
    [-3, 0],
    [12, 100],
    [null, null],
    [undefined, null],
    [NaN, null],
  ])('%s → %s', (v, want) => {
    expect(position(v, m)).toBe(want)
  })

  it('an offset range', () => {
    expect(position(600, { range: [100, 1100] })).toBe(50)
  })

  it.each([[[5, 5]], [[10, 0]]])('a degenerate range %j has no position', (range) => {
    expect(position(5, { range: [range[0], range[1]] })).toBeNull()
  })
})

describe('ago', () => {
  it.each([
    [0, '0 s'],
    [-5000, '0 s'],
    [400, '0 s'],
    [12_000, '12 s'],
    [89_000, '89 s'],
    [90_000, '2 min'],
    [180_000, '3 min'],
    [89 * 60_000, '89 min'],
    [90 * 60_000, '2 h'],
    [2 * 3600_000, '2 h'],
    [26 * 3600_000, '26 h'],
  ])('%i ms → %s', (ms, want) => {
    expect(ago(ms)).toBe(want)
  })
})

describe('alertText', () => {
  const { t } = createI18n([common], 'pl')
  const meta = { id: 'P1', name: 'Pressure 1', unit: 'bar', range: [0, 10] as [number, number], normal: [2, 8] as [number, number], warning: [1, 9] as [number, number] }
  const base = { type: 'WARNING' as const, sensor_id: 'P1', value: 8.34, threshold: 8, message: 'P1 warning: 8.34 bar beyond 8 bar' }
  it.each([
    ['a warning says its own crossing', base, 'Pressure 1: 8,34 bar, poza granicą 8,00 bar'],
    [
      'an escalated alert says the critical crossing, not the opening one',
      { ...base, type: 'CRITICAL' as const, escalated_at: '2026-11-27T05:00:00Z', escalated_value: 9.6, escalated_threshold: 9 },
      'Pressure 1: 9,60 bar, poza granicą 9,00 bar',
    ],
    [
      "a fault in the UI's words, not the server's English",
      { ...base, type: 'SENSOR_FAULT' as const, value: null, threshold: null, message: 'Pressure 1: sensor fault: read timeout' },
      'Pressure 1: awaria czujnika (Brak odpowiedzi przetwornika)',
    ],
    [
      'a fault with the value read',
      { ...base, type: 'SENSOR_FAULT' as const, value: 12.5, threshold: null, message: 'Pressure 1: sensor fault: out of range (12.5 bar)' },
      'Pressure 1: awaria czujnika (Poza zakresem przetwornika: 12,50 bar)',
    ],
    [
      'a fault the UI does not know keeps its words, without the sensor name again',
      { ...base, type: 'SENSOR_FAULT' as const, value: null, threshold: null, message: 'Pressure 1: sensor fault: gremlins (slave 2)' },
      'Pressure 1: awaria czujnika (gremlins (slave 2))',
    ],
    ['without meta: the sensor id and no unit', { ...base, sensor_id: 'P9' }, 'P9: 8,34, poza granicą 8,00'],
    [
      "a device fault of the storage: the UI's own words, not the daemon's English",
      { ...base, type: 'DEVICE_FAULT' as const, sensor_id: 'storage', value: null, threshold: null, message: 'The database … was damaged' },
      'Baza danych była uszkodzona i została odłożona; urządzenie pracuje na kopii zapasowej lub na pustej bazie. Brakujące dane są tylko w odłożonym pliku.',
    ],
    [
      'a device fault of a part the UI does not know yet: its name',
      { ...base, type: 'DEVICE_FAULT' as const, sensor_id: 'fan', value: null, threshold: null, message: 'stopped' },
      'Awaria urządzenia: fan',
    ],
  ])('%s', (_, a, want) => {
    expect(alertText(a, a.sensor_id === 'P1' ? meta : undefined, t, 'pl-PL')).toBe(want)
  })

  it.each([
    ['pl-PL', 'Ciśnienie 1: 8,34 bar, poza granicą 8,00 bar'],
    ['en-GB', 'Pressure 1: 8.34 bar, beyond the limit of 8.00 bar'],
  ])('names the sensor in the language of %s', (locale, want) => {
    const i = createI18n([common], locale === 'pl-PL' ? 'pl' : 'en')
    const named = { ...meta, name: 'P-one', names: { pl: 'Ciśnienie 1', en: 'Pressure 1' } }
    expect(alertText(base, named, i.t, locale)).toBe(want)
  })

  it('says the same in English', () => {
    const en = createI18n([common], 'en')
    const a = { ...base, type: 'DEVICE_FAULT' as const, sensor_id: 'storage', value: null, threshold: null }
    expect(alertText(a, undefined, en.t, 'en-GB')).toMatch(/^The database was damaged and has been set aside; the device runs on a backup/)
  })
})

describe('sensorName', () => {
  const names = { pl: 'Ciśnienie 1', en: 'Pressure 1' }
  it.each([
    ['Polish', { name: 'P-one', names }, 'pl-PL', 'Ciśnienie 1'],
    ['English', { name: 'P-one', names }, 'en-GB', 'Pressure 1'],
    ['no names from an older daemon: its one name', { name: 'P-one' }, 'pl-PL', 'P-one'],
    ['no name in this language: the one name', { name: 'P-one', names: { en: 'Pressure 1' } }, 'pl-PL', 'P-one'],
    ['no meta', undefined, 'pl-PL', ''],
  ])('%s', (_, meta, locale, want) => {
    expect(sensorName(meta, locale)).toBe(want)
  })
})

describe('alertFault', () => {
  it.each([
    ['Pressure 3: sensor fault: out of range (1200 mbar)', 'out of range'],
    ['Pressure 3: sensor fault: out of range (1.2e+03 mbar)', 'out of range'],
    ['Pressure 3: sensor fault: read timeout', 'read timeout'],
    ['read P1 (slave 2)', 'read P1 (slave 2)'],
  ])('%j → %j', (msg, want) => {
    expect(alertFault(msg)).toBe(want)
  })
})

describe('alertDetail', () => {
  it.each([
    ['a device fault: the daemon’s account of it', { type: 'DEVICE_FAULT' as const, message: 'kept as /var/lib/x' }, 'kept as /var/lib/x'],
    ['any other alert: nothing beyond its text', { type: 'CRITICAL' as const, message: 'P1 critical' }, ''],
  ])('%s', (_, a, want) => {
    expect(alertDetail(a)).toBe(want)
  })
})

describe('faultText', () => {
  const { t } = createI18n([common], 'pl')
  it.each([
    ['out of range', 'Poza zakresem przetwornika'],
    ['not read yet', 'Jeszcze nie odczytano'],
    ['read P2: no response from transducer', 'Brak odpowiedzi przetwornika'],
    ['read P2: bad frame checksum', 'Błąd transmisji (CRC)'],
    ['bus disconnected', 'Brak połączenia z magistralą'],
    ['bus disconnected: open 10.0.0.5:502: dial tcp 10.0.0.5:502: i/o timeout', 'Brak połączenia z magistralą'],
    ['read P3: slave answered with a modbus exception: illegal data address', 'Przetwornik odrzucił zapytanie'],
    ['something new', 'something new'],
    ['', 'Awaria czujnika'],
  ])('%j → %s', (fault, want) => {
    expect(faultText(fault, t)).toBe(want)
  })
})

describe('errorText', () => {
  const { t } = createI18n([common], 'pl')
  it.each([
    ['a known code in Polish', new ApiError(503, 'unavailable', 'the alarm engine is not running'), 'usługa urządzenia chwilowo niedostępna, spróbuj za chwilę'],
    ['no answer', new ApiError(0, 'network', 'Failed to fetch'), 'urządzenie nie odpowiada'],
    ['an unknown code keeps the message', new ApiError(418, 'teapot', 'short and stout'), 'short and stout'],
    ['not an ApiError', new Error('boom'), 'boom'],
  ])('%s', (_n, e, want) => {
    expect(errorText(e, t)).toBe(want)
  })
})
