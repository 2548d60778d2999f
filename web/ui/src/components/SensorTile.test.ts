import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import SensorTile from './SensorTile.vue'
import { I18N, createI18n, type Lang } from '../lib/i18n'
import { common } from '../i18n/common'
import type { Reading, SensorMeta } from '../stores/live'

const NOW = Date.parse('2025-03-01T08:00:00Z')
const P1: SensorMeta = { id: 'P1', name: 'Inlet', unit: 'bar', range: [0, 10], normal: [2, 8], warning: [1, 9] }
const P2: SensorMeta = { id: 'P2', name: 'Outlet', unit: 'mbar', range: [0, 1000], normal: [200, 800], warning: [100, 900] }

const reading = (over: Partial<Reading> = {}): Reading => ({
  value: 5.02,
  unit: 'bar',
  status: 'normal',
  quality: 'good',
  timestamp: new Date(NOW).toISOString(),
  ...over,
})

function tile(props: { meta?: SensorMeta; reading?: Reading; stale?: boolean; id?: string; unacked?: boolean }, lang: Lang = 'pl') {
  return mount(SensorTile, {
    props: {
      id: props.id ?? 'P1',
      meta: 'meta' in props ? props.meta : P1,
      reading: props.reading,
      spark: [[NOW - 1000, 5]] as [number, number][],
      stale: props.stale ?? false,
      now: NOW,
      unacked: props.unacked,
    },
    global: { provide: { [I18N as symbol]: createI18n([common], lang) } },
  })
}

describe('SensorTile', () => {
  it.each([
    ['normal', 'pl', P1, 5.02, '5,02', 'bar', 'W normie'],
    ['warning', 'pl', P1, 8.5, '8,50', 'bar', 'Ostrzeżenie'],
    ['critical', 'pl', P1, 9.7, '9,70', 'bar', 'Krytyczny'],
    ['normal', 'en', P1, 5.02, '5.02', 'bar', 'Normal'],
    ['critical', 'en', P2, 950.4, '950', 'mbar', 'Critical'],
  ] as const)('%s (%s): shows %s as %s', (status, lang, meta, value, shown, unit, word) => {
    const w = tile({ meta, reading: reading({ value, status, unit: meta.unit }) }, lang)
    expect(w.find('[data-testid="value"]').text()).toBe(shown)
    expect(w.find('.unit').text()).toBe(unit)
    expect(w.find('[data-testid="status"]').text()).toBe(word)
    const root = w.find('[data-testid="tile-P1"]')
    expect(root.attributes('data-status')).toBe(status)
    expect(root.classes()).toContain('s-' + status)
    expect(root.classes()).not.toContain('stale')
    expect(root.attributes('aria-label')).toBe(`${meta.name}: ${shown} ${unit}, ${word}`)
  })

  it('draws the range bar and the sparkline', () => {
    const w = tile({ reading: reading() })
    expect(w.find('[data-testid="range-bar"]').exists()).toBe(true)
    expect(w.findAll('.seg')).toHaveLength(5)
    expect(w.find('.marker').attributes('style')).toContain('left: 50.2%')
    expect(w.find('svg path').attributes('d')).toMatch(/^M/)
  })

  it.each([
    ['bad quality with the last number', reading({ quality: 'bad', value: 5.02, fault: 'open circuit' }), 'open circuit'],
    ['bad quality without a fault text', reading({ quality: 'bad', value: 7.77 }), 'Awaria czujnika'],
    ['a null value', reading({ value: null }), 'Awaria czujnika'],
    ['a timeout, in words', reading({ quality: 'bad', value: 5.02, fault: 'read P1: no response from transducer' }), 'Brak odpowiedzi przetwornika'],
  ])('%s shows the fault, not the number', (_name, r, text) => {
    const w = tile({ reading: r })
    const root = w.find('[data-testid="tile-P1"]')
    expect(root.attributes('data-status')).toBe('fault')
    expect(w.find('[data-testid="value"]').text()).toBe(text)
    expect(w.find('.fault').exists()).toBe(true)
    expect(w.find('.value').exists()).toBe(false)
    expect(w.text()).not.toContain('5,02')
    expect(w.text()).not.toContain('7,77')
    expect(w.find('[data-testid="status"]').text()).toBe('Awaria czujnika')
    // and the range bar has no marker at the old value
    expect(w.find('.marker').exists()).toBe(false)
    expect(root.attributes('aria-label')).not.toMatch(/\d,\d\d/)
  })

  it('no reading yet: no data', () => {
    const w = tile({ reading: undefined })
    expect(w.find('[data-testid="tile-P1"]').attributes('data-status')).toBe('nodata')
    expect(w.find('[data-testid="status"]').text()).toBe('Brak danych')
    expect(w.find('[data-testid="value"]').text()).toBe('—')
  })

  it('an overload past the range is a critical pressure: red and "critical", the fault in words, no number', () => {
    const w = tile({ reading: reading({ quality: 'bad', status: 'critical', value: 10.4, fault: 'out of range' }) })
    const root = w.find('[data-testid="tile-P1"]')
    expect(root.classes()).toContain('s-critical')
    expect(root.attributes('data-status')).toBe('critical')
    expect(root.attributes('aria-label')).toContain('Krytyczny')
    expect(w.find('[data-testid="status"]').text()).toBe('Krytyczny')
    expect(w.find('[data-testid="value"]').text()).toBe('Poza zakresem przetwornika')
    expect(w.text()).not.toContain('10,4')
  })

  it('a broken loop below the range stays a sensor fault, not a critical pressure', () => {
    const w = tile({ reading: reading({ quality: 'bad', status: 'critical', value: -2.5, fault: 'out of range' }) })
    expect(w.find('[data-testid="tile-P1"]').attributes('data-status')).toBe('fault')
    expect(w.find('[data-testid="status"]').text()).toBe('Awaria czujnika')
  })

  it('stale data is marked', () => {
    const w = tile({ reading: reading(), stale: true })
    const root = w.find('[data-testid="tile-P1"]')
    expect(root.classes()).toContain('stale')
    expect(w.find('[data-testid="status"]').text()).toBe('W normie')
    expect(w.find('[data-testid="stale"]').text()).toBe('nieaktualne')
    // the number is still shown, greyed
    expect(w.find('[data-testid="value"]').text()).toBe('5,02')
  })

  it('without meta: the reading\'s unit, no bar, two decimals', () => {
    const w = tile({ meta: undefined, reading: reading({ value: 3.3, unit: 'kPa' }) })
    expect(w.find('[data-testid="value"]').text()).toBe('3,30')
    expect(w.find('.unit').text()).toBe('kPa')
    expect(w.find('[data-testid="range-bar"]').exists()).toBe(false)
    expect(w.find('.name').text()).toBe('P1')
  })

  it('shows the sensor name beside the id', () => {
    const w = tile({ reading: reading() })
    expect(w.find('.name').text()).toBe('P1 · Inlet')
  })

  it.each([
    ['normal', reading(), null],
    ['warning', reading({ value: 8.5, status: 'warning' }), 'warning'],
    ['critical', reading({ value: 9.7, status: 'critical' }), 'critical'],
    ['fault', reading({ quality: 'bad', value: null, fault: 'timeout' }), 'fault'],
    ['overload', reading({ quality: 'bad', status: 'critical', value: 10.4, fault: 'out of range' }), 'critical'],
  ] as const)('%s: the state shape is %s (grey normal has none)', (_name, r, shape) => {
    const w = tile({ reading: r })
    const s = w.find('[data-shape]')
    expect(s.exists()).toBe(shape !== null)
    if (shape) expect(s.attributes('data-shape')).toBe(shape)
  })

  it('the shape moves only while an alarm of the sensor waits for acknowledgement', () => {
    const still = tile({ reading: reading({ value: 9.7, status: 'critical' }) })
    expect(still.find('[data-shape]').classes()).not.toContain('moving')
    const moving = tile({ reading: reading({ value: 9.7, status: 'critical' }), unacked: true })
    expect(moving.find('[data-shape]').classes()).toContain('moving')
  })

  it('the value is what the audit measures for its ink; a fault text is not', () => {
    expect(tile({ reading: reading() }).find('[data-ink]').text()).toBe('5,02')
    expect(tile({ reading: reading({ value: null }) }).find('[data-ink]').exists()).toBe(false)
  })

  it("the range bar's bands and the sparkline's edges are indicators, told apart by more than colour", () => {
    const w = tile({ reading: reading() })
    expect(w.findAll('.seg').map((s) => s.attributes('data-band'))).toEqual(['critical', 'warning', 'normal', 'warning', 'critical'])
    expect(w.findAll('.seg[data-indicator]')).toHaveLength(5)
    expect(w.findAll('line.edge.warn')).toHaveLength(2)
    expect(w.findAll('line.edge.crit')).toHaveLength(2)
  })

  it('a normal tile with a cleared alarm waiting shows its shape hollow; an abnormal one its own', () => {
    const mk = (r: Reading) =>
      mount(SensorTile, {
        props: { id: 'P1', meta: P1, reading: r, spark: [], stale: false, now: NOW, cleared: 'critical' as const },
        global: { provide: { [I18N as symbol]: createI18n([common]) } },
      })
    const normal = mk(reading()).find('[data-shape]')
    expect(normal.attributes('data-shape')).toBe('critical')
    expect(normal.classes()).toEqual(expect.arrayContaining(['cleared', 'moving']))
    const warning = mk(reading({ value: 8.5, status: 'warning' })).find('[data-shape]')
    expect(warning.attributes('data-shape')).toBe('warning')
    expect(warning.classes()).not.toContain('cleared')
  })
})

describe('SensorTile: the reading’s age and the name per language', () => {
  it.each([
    ['a fresh reading: no age', 1000, false, 'pl', null],
    ['a reading 12 s old: stale, with its age', 12_000, false, 'pl', '12 s temu'],
    ['in English', 12_000, false, 'en', '12 s ago'],
    ['a lost link: the age even of a recent reading', 1000, true, 'pl', '1 s temu'],
  ] as const)('%s', (_, ageMs, stale, lang, want) => {
    const w = tile({ reading: reading({ timestamp: new Date(NOW - ageMs).toISOString() }), stale }, lang)
    const age = w.find('[data-testid="age"]')
    expect(age.exists() ? age.text() : null).toBe(want)
    expect(w.find('[data-testid="tile-P1"]').classes().includes('stale')).toBe(want !== null)
  })

  it.each([
    ['pl', 'Ciśnienie 1'],
    ['en', 'Pressure 1'],
  ] as const)('names the sensor in %s', (lang, want) => {
    const w = tile({ meta: { ...P1, names: { pl: 'Ciśnienie 1', en: 'Pressure 1' } }, reading: reading() }, lang)
    expect(w.find('.name small').text()).toBe(`· ${want}`)
    expect(w.find('[data-testid="tile-P1"]').attributes('aria-label')).toMatch(new RegExp(`^${want}: `))
  })
})
