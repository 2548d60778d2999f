import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { nextTick, reactive } from 'vue'
import AlarmSilence from './AlarmSilence.vue'
import AlarmSoundToggle from './AlarmSoundToggle.vue'
import { I18N, createI18n } from '../lib/i18n'
import { common } from '../i18n/common'
import { ALARM, createAlarm } from '../stores/alarm'
import type { Alert } from '../stores/alerts'

const critical = { id: 1, type: 'CRITICAL', state: 'ACTIVE_UNACK', reactivations: 0, escalated_at: null } as unknown as Alert

function setup(component: typeof AlarmSilence, { enabled = true, available = true, alerts = [critical] } = {}) {
  const open = reactive(new Map(alerts.map((a) => [a.id, a])))
  const alarm = createAlarm({ open: () => open.values(), tone: { play: () => {} }, enabled, available })
  const w = mount(component, { global: { provide: { [I18N as symbol]: createI18n([common], 'pl'), [ALARM as symbol]: alarm } } })
  return { w, alarm, open }
}

describe('AlarmSilence', () => {
  it('shows while a critical alarm waits, and silences it until a new one', async () => {
    const { w, open } = setup(AlarmSilence)
    const b = () => w.find('[data-testid="alarm-silence"]')
    expect(b().text()).toBe('Wycisz')
    expect(b().attributes('data-wanted')).toBe('true')
    await b().trigger('click')
    expect(b().text()).toBe('Wyciszono')
    expect(b().attributes('data-wanted')).toBe('false')
    expect(b().attributes('disabled')).toBeDefined()
    open.set(2, { ...critical, id: 2 })
    await nextTick()
    expect(b().text()).toBe('Wycisz')
  })

  it.each([
    ['no alarm', { alerts: [] as Alert[] }],
    ['the sound off', { enabled: false }],
  ])('absent with %s', (_, o) => {
    const { w } = setup(AlarmSilence, o)
    expect(w.find('[data-testid="alarm-silence"]').exists()).toBe(false)
  })
})

describe('AlarmSoundToggle', () => {
  it('turns the sound off and on, in words and its pressed state', async () => {
    const { w, alarm } = setup(AlarmSoundToggle)
    const b = () => w.find('[data-testid="alarm-sound"]')
    expect(b().text()).toBe('Dźwięk alarmu: włączony')
    expect(b().attributes('aria-pressed')).toBe('true')
    await b().trigger('click')
    expect(alarm.state.enabled).toBe(false)
    expect(b().text()).toBe('Dźwięk alarmu: wyłączony')
    expect(b().attributes('aria-pressed')).toBe('false')
  })

  it('says so where the browser has no Web Audio', () => {
    const { w } = setup(AlarmSoundToggle, { available: false })
    const b = w.find('[data-testid="alarm-sound"]')
    expect(b.text()).toBe('Dźwięk alarmu: niedostępny w tej przeglądarce')
    expect(b.attributes('disabled')).toBeDefined()
  })
})
