import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { computed, reactive, ref } from 'vue'
import AlertsView from './AlertsView.vue'
import { I18N, createI18n } from '../lib/i18n'
import { common } from '../i18n/common'
import { hmi } from '../i18n/hmi'
import { API, ApiError } from '../lib/api'
import { ACK, ALERTS, type Alert } from '../stores/alerts'
import { LIVE } from '../stores/live'
import { SESSION } from '../stores/session'

const alert = (id: number, state: Alert['state']): Alert => ({
  id, sensor_id: 'P1', type: 'CRITICAL', state, message: '', value: 9.6, threshold: 9,
  opened_at: '2026-12-04T11:03:05Z', escalated_at: null, cleared_at: state === 'CLEARED_UNACK' ? '2026-12-04T11:04:00Z' : null,
  acked_by: '', acked_at: null, comment: '', reactivations: 0, updated_at: '2026-12-04T11:03:05Z',
})

function view(list: Alert[], { canAck = true, fail = false } = {}) {
  const active = ref(list)
  const posts: [string, unknown][] = []
  let loads = 0
  const w = mount(AlertsView, {
    global: {
      provide: {
        [I18N as symbol]: createI18n([common, hmi]),
        [API as symbol]: {
          post: async (path: string, body: unknown) => {
            posts.push([path, body])
            if (fail) throw new ApiError(500, 'internal', 'boom')
            return { acknowledged: [] }
          },
        },
        [ALERTS as symbol]: {
          active: computed(() => active.value),
          state: reactive({ open: new Map(), loaded: true, error: '', errorCode: '' }),
          load: async () => void loads++,
          history: async () => ({ alerts: [], next_before_id: null }),
        },
        [LIVE as symbol]: { state: reactive({ meta: {}, readings: {}, order: ['P1'] }) },
        [SESSION as symbol]: { can: () => canAck },
        [ACK as symbol]: () => {},
      },
    },
  })
  return { w, posts, loads: () => loads }
}

describe('AlertsView acknowledge-all', () => {
  it('counts the alerts that wait, is a primary target, and acknowledges them in one request', async () => {
    const { w, posts, loads } = view([alert(1, 'ACTIVE_UNACK'), alert(2, 'CLEARED_UNACK'), alert(3, 'ACTIVE_ACK')])
    const b = w.find('[data-testid="ack-all"]')
    expect(b.text()).toBe('Potwierdź wszystkie (2)')
    expect(b.attributes('data-primary')).toBeDefined()
    await b.trigger('click')
    await new Promise((r) => setTimeout(r, 0))
    expect(posts).toEqual([['/api/alerts/ack-all', {}]])
    expect(loads()).toBe(1)
  })

  it('is not offered when nothing waits, or to a role that may not acknowledge', () => {
    expect(view([alert(3, 'ACTIVE_ACK')]).w.find('[data-testid="ack-all"]').exists()).toBe(false)
    expect(view([alert(1, 'ACTIVE_UNACK')], { canAck: false }).w.find('[data-testid="ack-all"]').exists()).toBe(false)
  })

  it('says so when it fails', async () => {
    const { w } = view([alert(1, 'ACTIVE_UNACK')], { fail: true })
    await w.find('[data-testid="ack-all"]').trigger('click')
    await new Promise((r) => setTimeout(r, 0))
    expect(w.find('[role="alert"]').text()).toContain('Nie udało się potwierdzić wszystkich')
  })
})
