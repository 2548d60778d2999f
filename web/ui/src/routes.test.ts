import { describe, expect, it } from 'vitest'
import type { RouteLocationNormalized } from 'vue-router'
import { guard } from './routes'
import type { SessionState } from './stores/session'

const to = (name: string, meta: Record<string, unknown> = {}) => ({ name, meta }) as unknown as RouteLocationNormalized

function sessionOf(signedIn: boolean, liveView: boolean, perms: string[] = ['view_sensors', 'view_alerts', 'ack_alerts']) {
  const state = { user: signedIn ? { username: 'jan' } : null, liveView } as unknown as SessionState
  return { state, can: (p: string) => signedIn && perms.includes(p) }
}

describe('guard', () => {
  it.each([
    ['signed out, no live view: home asks for a sign-in', false, false, to('home', { permission: 'view_sensors' }), { name: 'signin' }],
    ['signed out on the live view: home shows', false, true, to('home', { permission: 'view_sensors' }), true],
    ['signed out on the live view: any other screen asks for a sign-in', false, true, to('alerts', { permission: 'view_alerts' }), { name: 'signin' }],
    ['signed out on the live view: the sign-in screen opens', false, true, to('signin', { public: true }), true],
    ['signed in: the sign-in screen leads home', true, true, to('signin', { public: true }), { name: 'home' }],
    ['signed in: a screen of the role opens', true, false, to('alerts', { permission: 'view_alerts' }), true],
  ])('%s', (_n, signedIn, liveView, route, want) => {
    expect(guard(sessionOf(signedIn, liveView))(route)).toEqual(want)
  })
})
