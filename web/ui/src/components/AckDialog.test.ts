import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { reactive } from 'vue'
import AckDialog from './AckDialog.vue'
import { I18N, createI18n } from '../lib/i18n'
import { common } from '../i18n/common'
import { hmi } from '../i18n/hmi'
import { ALERTS, type Alert } from '../stores/alerts'
import { LIVE } from '../stores/live'

const A: Alert = {
  id: 3, sensor_id: 'P1', type: 'CRITICAL', state: 'ACTIVE_UNACK', message: '', value: 9.6, threshold: 9,
  opened_at: '2026-12-04T11:03:05Z', escalated_at: null, cleared_at: null, acked_by: '', acked_at: null,
  comment: '', reactivations: 0, updated_at: '2026-12-04T11:03:05Z',
}

function dialog() {
  const acks: [number, string][] = []
  const w = mount(AckDialog, {
    props: { alert: A },
    attachTo: document.body,
    global: {
      provide: {
        [I18N as symbol]: createI18n([common, hmi]),
        [ALERTS as symbol]: { ack: async (id: number, c: string) => void acks.push([id, c]), load: async () => {} },
        [LIVE as symbol]: { state: reactive({ meta: {}, readings: {} }) },
      },
    },
  })
  return { w, acks }
}

describe('AckDialog', () => {
  it('a tap outside it does not close it', async () => {
    const { w } = dialog()
    await w.find('.overlay').trigger('click')
    expect(w.emitted('close')).toBeUndefined()
    w.unmount()
  })

  it('Cancel closes it without acknowledging', async () => {
    const { w, acks } = dialog()
    await w.find('[data-testid="ack-cancel"]').trigger('click')
    expect(w.emitted('close')).toHaveLength(1)
    expect(acks).toEqual([])
    w.unmount()
  })

  it('Acknowledge is a primary target, acknowledges with the comment and closes', async () => {
    const { w, acks } = dialog()
    const b = w.find('[data-testid="ack-confirm"]')
    expect(b.attributes('data-primary')).toBeDefined()
    await w.find('[data-testid="ack-comment"]').setValue(' checked ')
    await b.trigger('click')
    await new Promise((r) => setTimeout(r, 0))
    expect(acks).toEqual([[3, 'checked']])
    expect(w.emitted('close')).toHaveLength(1)
    w.unmount()
  })

  it('typing on the LCD: the keyboard takes the buttons\' room, Done brings them back', async () => {
    const { w } = dialog()
    await w.find('[data-testid="ack-comment"]').trigger('focus')
    expect(w.find('[data-testid="osk"]').exists()).toBe(true)
    expect(w.find('[data-testid="ack-confirm"]').exists()).toBe(false)
    const done = w.find('[data-testid="osk"] [data-key="enter"]')
    expect(done.text()).toBe('Gotowe')
    await done.trigger('click')
    expect(w.find('[data-testid="osk"]').exists()).toBe(false)
    expect(w.find('[data-testid="ack-confirm"]').exists()).toBe(true)
    w.unmount()
  })
})
