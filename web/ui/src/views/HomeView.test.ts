import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { computed, reactive } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import HomeView from './HomeView.vue'
import { I18N, createI18n } from '../lib/i18n'
import { common } from '../i18n/common'
import { tile } from '../i18n/tile'
import { ALERTS } from '../stores/alerts'
import { LIVE } from '../stores/live'
import { SESSION } from '../stores/session'

async function home(user: string | null) {
  const empty = { template: '<div />' }
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { name: 'home', path: '/', component: HomeView },
      { name: 'trends', path: '/trends', component: empty },
    ],
  })
  await router.push('/')
  await router.isReady()
  const w = mount(HomeView, {
    global: {
      plugins: [router],
      provide: {
        [I18N as symbol]: createI18n([common, tile]),
        [LIVE as symbol]: { state: reactive({ meta: {}, readings: {}, spark: {}, order: ['P1', 'P2', 'P3'], link: 'live' }), serverNow: () => 0 },
        [ALERTS as symbol]: { active: computed(() => []) },
        [SESSION as symbol]: { state: reactive({ user }), can: () => true },
      },
    },
  })
  return { w, router }
}

describe('HomeView tiles', () => {
  it('signed in, each whole tile is a target that opens its trend', async () => {
    const { w, router } = await home('operator1')
    const links = w.findAll('a.slot')
    expect(links.map((a) => a.attributes('href'))).toEqual(['/trends?sensor=P1', '/trends?sensor=P2', '/trends?sensor=P3'])
    const p2 = w.find('[data-testid="open-P2"]')
    expect(p2.attributes('data-touch')).toBeDefined()
    expect(p2.find('[data-testid="tile-P2"]').exists()).toBe(true)
    await p2.trigger('click')
    await new Promise((r) => setTimeout(r, 0))
    expect(router.currentRoute.value.fullPath).toBe('/trends?sensor=P2')
  })

  it('signed out (the live view), the tiles are read-only', async () => {
    const { w } = await home(null)
    expect(w.findAll('[data-testid="tile-P1"]')).toHaveLength(1)
    expect(w.find('a').exists()).toBe(false)
    expect(w.find('[data-touch]').exists()).toBe(false)
  })
})
