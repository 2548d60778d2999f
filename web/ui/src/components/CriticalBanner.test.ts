import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { computed, reactive, ref } from 'vue'
import CriticalBanner from './CriticalBanner.vue'
import { I18N, createI18n, type Lang } from '../lib/i18n'
import { common } from '../i18n/common'
import { hmi } from '../i18n/hmi'
import { ACK, ALERTS, type Alert } from '../stores/alerts'
import { LIVE, type Reading, type SensorMeta } from '../stores/live'
import { SESSION } from '../stores/session'

const P1: SensorMeta = { id: 'P1', name: 'Ciśnienie 1', unit: 'bar', range: [0, 10], normal: [2, 8], warning: [1.5, 9] }

const alert = (over: Partial<Alert> = {}): Alert => ({
  id: 7, sensor_id: 'P1', type: 'CRITICAL', state: 'ACTIVE_UNACK', message: '', value: 9.6, threshold: 9,
  opened_at: '2026-12-04T11:03:05Z', escalated_at: null, cleared_at: null, acked_by: '', acked_at: null,
  comment: '', reactivations: 0, updated_at: '2026-12-04T11:03:05Z', ...over,
})

function banner(list: Alert[], reading: Reading | undefined, lang: Lang = 'pl', canAck = true) {
  const open = ref(list)
  const acked: Alert[] = []
  const w = mount(CriticalBanner, {
    global: {
      provide: {
        [I18N as symbol]: createI18n([common, hmi], lang),
        [ALERTS as symbol]: { urgentUnacked: computed(() => open.value) },
        [LIVE as symbol]: { state: reactive({ meta: { P1 }, readings: reading ? { P1: reading } : {} }) },
        [SESSION as symbol]: { can: () => canAck, offers: () => canAck },
        [ACK as symbol]: (a: Alert) => acked.push(a),
      },
    },
  })
  return { w, acked }
}

const now = (value: number): Reading => ({ value, unit: 'bar', status: 'normal', quality: 'good', timestamp: '2026-12-04T11:04:00Z' })

describe('CriticalBanner', () => {
  it('names the sensor, the trip, its time and the value now', () => {
    const { w } = banner([alert()], now(9.61))
    const trip = w.find('[data-testid="banner-trip"]').text()
    expect(trip).toContain('Ciśnienie 1')
    expect(trip).toContain('9,60 bar')
    expect(trip).toMatch(/o \d\d:03:05/)
    expect(w.find('[data-testid="banner-now"]').text()).toBe('teraz 9,61 bar')
    expect(w.text()).toContain('ALARM KRYTYCZNY')
    expect(w.find('[data-testid="banner-cleared"]').exists()).toBe(false)
    const shape = w.find('[data-shape]')
    expect(shape.attributes('data-shape')).toBe('critical')
    expect(shape.classes()).toContain('moving')
    expect(shape.classes()).not.toContain('cleared')
  })

  it('a cleared alarm says it cleared and when, with a hollow shape, and the value now', () => {
    const { w } = banner([alert({ state: 'CLEARED_UNACK', cleared_at: '2026-12-04T11:05:09Z' })], now(5))
    expect(w.find('[data-testid="critical-banner"]').attributes('data-state')).toBe('CLEARED_UNACK')
    expect(w.find('[data-testid="banner-cleared"]').text()).toMatch(/USTĄPIŁ \d\d:05:09/)
    expect(w.find('[data-shape]').classes()).toContain('cleared')
    expect(w.find('[data-testid="banner-now"]').text()).toBe('teraz 5,00 bar')
  })

  it('in English', () => {
    const { w } = banner([alert({ state: 'CLEARED_UNACK', cleared_at: '2026-12-04T11:05:09Z' })], now(5), 'en')
    expect(w.find('[data-testid="banner-cleared"]').text()).toMatch(/CLEARED \d\d:05:09/)
    expect(w.find('[data-testid="banner-now"]').text()).toBe('now 5.00 bar')
    expect(w.find('[data-testid="banner-trip"]').text()).toMatch(/at \d\d:03:05/)
  })

  it('an escalated warning gives the time of the escalation', () => {
    const { w } = banner([alert({ opened_at: '2026-12-04T11:00:00Z', escalated_at: '2026-12-04T11:02:30Z', escalated_value: 9.4, escalated_threshold: 9 })], undefined)
    expect(w.find('[data-testid="banner-trip"]').text()).toMatch(/o \d\d:02:30/)
    // no live reading: no value now rather than a wrong one
    expect(w.find('[data-testid="banner-now"]').exists()).toBe(false)
  })

  it('a bad reading now shows no value now', () => {
    const { w } = banner([alert()], { ...now(12), quality: 'bad', fault: 'out of range' })
    expect(w.find('[data-testid="banner-now"]').exists()).toBe(false)
  })

  it('acknowledge is a primary target and opens the dialog for the first alert', async () => {
    const { w, acked } = banner([alert(), alert({ id: 8 })], now(9.6))
    const b = w.find('[data-testid="banner-ack"]')
    expect(b.attributes('data-primary')).toBeDefined()
    await b.trigger('click')
    expect(acked.map((a) => a.id)).toEqual([7])
    expect(w.text()).toContain('+1')
  })

  it('without the permission: no acknowledge button', () => {
    const { w } = banner([alert()], now(9.6), 'pl', false)
    expect(w.find('[data-testid="banner-ack"]').exists()).toBe(false)
  })

  it('nothing to show: no banner', () => {
    const { w } = banner([], now(5))
    expect(w.find('[data-testid="critical-banner"]').exists()).toBe(false)
  })
})
