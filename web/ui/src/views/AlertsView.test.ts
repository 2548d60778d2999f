import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { computed, reactive, ref } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import AlertsView from './AlertsView.vue'
import { I18N, createI18n } from '../lib/i18n'
import { common } from '../i18n/common'
import { hmi } from '../i18n/hmi'
import { tile } from '../i18n/tile'
import { API, ApiError } from '../lib/api'
import { ACK, ALERTS, needsAck, type Alert } from '../stores/alerts'
import { LIVE } from '../stores/live'
import { SESSION } from '../stores/session'

const alert = (id: number, state: Alert['state'], sensor = 'P1'): Alert => ({
  id, sensor_id: sensor, type: 'CRITICAL', state, message: '', value: 9.6, threshold: 9,
  opened_at: '2026-12-04T11:03:05Z', escalated_at: null, cleared_at: state === 'CLEARED_UNACK' ? '2026-12-04T11:04:00Z' : null,
  acked_by: '', acked_at: null, comment: '', reactivations: 0, updated_at: '2026-12-04T11:03:05Z',
})

async function view(list: Alert[], { canAck = true, fail = false, path = '/alerts' } = {}) {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [{ name: 'alerts', path: '/alerts', component: AlertsView }],
  })
  await router.push(path)
  await router.isReady()
  const active = ref(list)
  const posts: [string, unknown][] = []
  let loads = 0
  const w = mount(AlertsView, {
    global: {
      plugins: [router],
      provide: {
        [I18N as symbol]: createI18n([common, hmi, tile]),
        [API as symbol]: {
          post: async (path: string, body: unknown) => {
            posts.push([path, body])
            if (fail) throw new ApiError(500, 'internal', 'boom')
            return { acknowledged: [] }
          },
        },
        [ALERTS as symbol]: {
          active: computed(() => active.value),
          unacked: computed(() => active.value.filter(needsAck).length),
          state: reactive({ open: new Map(), loaded: true, error: '', errorCode: '' }),
          load: async () => void loads++,
          history: async () => ({ alerts: [], next_before_id: null }),
        },
        [LIVE as symbol]: { state: reactive({ meta: {}, readings: {}, order: ['P1', 'P2', 'P3'] }) },
        [SESSION as symbol]: { can: () => canAck },
        [ACK as symbol]: () => {},
      },
    },
  })
  return { w, posts, loads: () => loads, router }
}

describe('AlertsView acknowledge-all', () => {
  it('counts the alerts that wait, is a primary target, and acknowledges them in one request', async () => {
    const { w, posts, loads } = await view([alert(1, 'ACTIVE_UNACK'), alert(2, 'CLEARED_UNACK'), alert(3, 'ACTIVE_ACK')])
    const b = w.find('[data-testid="ack-all"]')
    expect(b.text()).toBe('Potwierdź wszystkie (2)')
    expect(b.attributes('data-primary')).toBeDefined()
    await b.trigger('click')
    await new Promise((r) => setTimeout(r, 0))
    expect(posts).toEqual([['/api/alerts/ack-all', {}]])
    expect(loads()).toBe(1)
  })

  it('is not offered when nothing waits, or to a role that may not acknowledge', async () => {
    expect((await view([alert(3, 'ACTIVE_ACK')])).w.find('[data-testid="ack-all"]').exists()).toBe(false)
    expect((await view([alert(1, 'ACTIVE_UNACK')], { canAck: false })).w.find('[data-testid="ack-all"]').exists()).toBe(false)
  })

  it('says so when it fails', async () => {
    const { w } = await view([alert(1, 'ACTIVE_UNACK')], { fail: true })
    await w.find('[data-testid="ack-all"]').trigger('click')
    await new Promise((r) => setTimeout(r, 0))
    expect(w.find('[role="alert"]').text()).toContain('Nie udało się potwierdzić wszystkich')
  })
})

describe('AlertsView sensor filter', () => {
  const list = [alert(1, 'ACTIVE_UNACK', 'P1'), alert(2, 'ACTIVE_UNACK', 'P2'), alert(3, 'ACTIVE_ACK', 'P2')]
  const rows = (w: Awaited<ReturnType<typeof view>>['w']) => w.findAll('[data-testid="alert-row"]').map((r) => r.attributes('data-alert-id'))

  it('shows only the open alerts of the sensor in the query, says so, and offers no acknowledge-all', async () => {
    const { w } = await view(list, { path: '/alerts?sensor=P2' })
    expect(rows(w)).toEqual(['2', '3'])
    expect(w.find('[data-testid="alerts-filter"]').text()).toContain('Tylko P2')
    expect(w.find('[data-testid="tab-active"]').text()).toContain('(2)')
    expect(w.find('[data-testid="ack-all"]').exists()).toBe(false)
  })

  it('clears the filter from the query with its button', async () => {
    const { w, router } = await view(list, { path: '/alerts?sensor=P2' })
    await w.find('[data-testid="alerts-filter-clear"]').trigger('click')
    await new Promise((r) => setTimeout(r, 0))
    expect(router.currentRoute.value.query.sensor).toBeUndefined()
    expect(w.find('[data-testid="alerts-filter"]').exists()).toBe(false)
    expect(rows(w)).toEqual(['1', '2', '3'])
  })

  it.each([
    ['no sensor', '/alerts'],
    ['an unknown sensor', '/alerts?sensor=P9'],
  ])('shows every alert for %s', async (_, path) => {
    const { w } = await view(list, { path })
    expect(w.find('[data-testid="alerts-filter"]').exists()).toBe(false)
    expect(rows(w)).toHaveLength(3)
  })

  it('says which sensor has no open alert', async () => {
    const { w } = await view(list, { path: '/alerts?sensor=P3' })
    expect(w.find('[data-testid="alerts-empty"]').text()).toBe('Brak otwartych alarmów czujnika P3.')
  })
})
