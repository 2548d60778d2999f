import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { flushPromises, mount } from '@vue/test-utils'
import { createMemoryHistory, createRouter } from 'vue-router'
import SignInView from './SignInView.vue'
import { API, ApiError, type Api } from '../lib/api'
import { I18N, createI18n, type Lang } from '../lib/i18n'
import { common } from '../i18n/common'
import { pin } from '../i18n/pin'
import { SESSION, createSession, type SessionClock } from '../stores/session'

const clock: SessionClock = { now: () => Date.parse('2025-03-01T08:00:00Z'), setInterval: () => 1, clearInterval: () => {} }

const Home = defineComponent({ render: () => h('div', { 'data-testid': 'home' }, 'home') })

function fakeApi() {
  const api = {
    get: vi.fn(async (_path: string): Promise<unknown> => undefined),
    post: vi.fn(async (_path: string, _body?: unknown): Promise<unknown> => undefined),
    refresh: vi.fn(async () => true),
  }
  return { api, asApi: api as unknown as Api }
}

async function setup(lang: Lang = 'pl', recent?: unknown) {
  const { api, asApi } = fakeApi()
  // GET /api/auth/recent: an array on the panel; undefined (no answer) elsewhere.
  if (recent !== undefined) api.get.mockImplementation(async (path: string) => (path === '/api/auth/recent' ? recent : undefined))
  const session = createSession(asApi, clock)
  const i18n = createI18n([common, pin], lang)
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { name: 'signin', path: '/signin', component: SignInView },
      { name: 'home', path: '/', component: Home },
    ],
  })
  await router.push('/signin')
  await router.isReady()
  const w = mount(SignInView, {
    global: {
      plugins: [router],
      provide: { [I18N as symbol]: i18n, [SESSION as symbol]: session, [API as symbol]: asApi },
    },
    attachTo: document.body,
  })
  await flushPromises() // the recent users, on the panel
  return { w, api, session, router, i18n }
}

/** signIn chooses a role, fills in the fields and submits the form. */
async function signIn(w: Awaited<ReturnType<typeof setup>>['w'], username = 'jan', password = 'secret') {
  await w.find('[data-testid="role-OPERATOR"]').trigger('click')
  await w.find('[data-testid="field-username"]').setValue(username)
  await w.find('[data-testid="field-password"]').setValue(password)
  await w.find('form').trigger('submit')
  await flushPromises()
}

const errorText = (w: Awaited<ReturnType<typeof setup>>['w']) => w.find('[data-testid="signin-error"]').text()

let mounted: { unmount(): void }[] = []
beforeEach(() => {
  localStorage.clear()
  mounted = []
})
afterEach(() => {
  for (const w of mounted) w.unmount()
  document.body.innerHTML = ''
})

describe('SignInView', () => {
  it('shows the four role tiles and no form at first', async () => {
    const { w } = await setup()
    mounted.push(w)
    expect(w.findAll('button.role').map((b) => b.text())).toEqual(['Operator', 'Administrator', 'Superużytkownik', 'Serwisant'])
    expect(w.find('form').exists()).toBe(false)
  })

  it('the role tiles are grey: the role colour is only their stripe, and sign-in is primary', async () => {
    const { w } = await setup()
    mounted.push(w)
    for (const tile of w.findAll('button.role')) {
      expect(tile.attributes('style') ?? '').toContain('--role')
      expect(tile.classes()).not.toContain('primary')
      expect(tile.find('.stripe[data-indicator]').exists()).toBe(true)
    }
    await w.find('[data-testid="role-OPERATOR"]').trigger('click')
    expect(w.find('[data-testid="signin-submit"]').attributes()).toHaveProperty('data-primary')
  })

  it('choosing a role shows the credentials form and the keyboard', async () => {
    const { w } = await setup()
    mounted.push(w)
    await w.find('[data-testid="role-ADMIN"]').trigger('click')
    expect(w.find('form').exists()).toBe(true)
    expect(w.find('[data-testid="field-username"]').exists()).toBe(true)
    expect(w.find('[data-testid="field-password"]').attributes('type')).toBe('password')
    expect(w.find('[data-testid="osk"]').exists()).toBe(true)
    expect(w.find('.chosen').text()).toBe('Logowanie jako: Administrator')
    expect(w.find('button.role').exists()).toBe(false)
    await w.find('[data-testid="signin-back"]').trigger('click')
    expect(w.find('form').exists()).toBe(false)
    expect(w.findAll('button.role')).toHaveLength(4)
  })

  it('the on-screen keyboard types into the username field', async () => {
    const { w } = await setup()
    mounted.push(w)
    await w.find('[data-testid="role-OPERATOR"]').trigger('click')
    for (const k of ['j', 'a', 'n']) await w.find(`[data-key="${k}"]`).trigger('click')
    expect((w.find('[data-testid="field-username"]').element as HTMLInputElement).value).toBe('jan')
  })

  it('sends the credentials with the chosen role and goes home', async () => {
    const { w, api, router } = await setup()
    mounted.push(w)
    api.post.mockResolvedValue({ username: 'jan', role: 'OPERATOR', permissions: ['view_sensors'], color: '#27ae60', session_timeout: 300, expires_in: 900 })
    await signIn(w, '  jan ', 'secret')
    expect(api.post).toHaveBeenCalledWith('/api/auth/login', { username: 'jan', password: 'secret', role: 'OPERATOR' })
    expect(router.currentRoute.value.name).toBe('home')
    expect(localStorage.getItem('ms.lang.jan')).toBe('pl')
  })

  it('missing credentials: a message and no request', async () => {
    const { w, api } = await setup()
    mounted.push(w)
    await signIn(w, '   ', 'secret')
    expect(api.post).not.toHaveBeenCalled()
    expect(errorText(w)).toBe('Wpisz nazwę użytkownika i hasło.')
  })

  it.each([
    ['pl', 'Nieprawidłowa nazwa użytkownika, hasło lub rola. Sprawdź i spróbuj ponownie.'],
    ['en', 'Wrong username, password or role. Check them and try again.'],
  ] as const)('a 401 answer shows the wrong-credentials message in plain words (%s)', async (lang, want) => {
    const { w, api, router } = await setup(lang)
    mounted.push(w)
    api.post.mockRejectedValue(new ApiError(401, 'unauthorized', 'wrong username, password or role'))
    await signIn(w)
    expect(errorText(w)).toBe(want)
    expect(errorText(w)).not.toContain('wrong username, password or role')
    expect((w.find('[data-testid="field-password"]').element as HTMLInputElement).value).toBe('')
    expect((w.find('[data-testid="field-username"]').element as HTMLInputElement).value).toBe('jan')
    expect(router.currentRoute.value.name).toBe('signin')
  })

  it.each([
    ['pl', 'account locked after 5 failed sign-ins; try again in 4 min', 'Konto zablokowane po zbyt wielu nieudanych próbach. Spróbuj ponownie za 4 min.'],
    ['en', 'account locked after 5 failed sign-ins; try again in 4 min', 'The account is locked after too many failed attempts. Try again in 4 min.'],
    ['en', 'account locked after 5 failed sign-ins; try again in 15min', 'The account is locked after too many failed attempts. Try again in 15 min.'],
    ['pl', 'account locked', 'Konto jest zablokowane po zbyt wielu nieudanych próbach. Spróbuj ponownie za kilka minut.'],
  ] as const)('locked (%s, %j) shows the minutes', async (lang, message, want) => {
    const { w, api } = await setup(lang)
    mounted.push(w)
    api.post.mockRejectedValue(new ApiError(423, 'locked', message))
    await signIn(w)
    expect(errorText(w)).toBe(want)
  })

  it.each([
    [7, 'Zbyt wiele prób z tego urządzenia. Spróbuj ponownie za 7 s.'],
    [0, 'Zbyt wiele prób z tego urządzenia. Spróbuj ponownie za 5 s.'],
  ])('rate limited (Retry-After %i)', async (retry, want) => {
    const { w, api } = await setup()
    mounted.push(w)
    api.post.mockRejectedValue(new ApiError(429, 'limit', 'too many sign-in attempts', retry))
    await signIn(w)
    expect(errorText(w)).toBe(want)
  })

  it('the device does not answer', async () => {
    const { w, api } = await setup()
    mounted.push(w)
    api.post.mockRejectedValue(new ApiError(0, 'network', 'the device did not answer (Failed to fetch)'))
    await signIn(w)
    expect(errorText(w)).toBe('Brak połączenia z urządzeniem. Sprawdź połączenie i spróbuj ponownie.')
  })

  it('another error shows its message', async () => {
    const { w, api } = await setup('en')
    mounted.push(w)
    api.post.mockRejectedValue(new ApiError(500, 'internal', 'internal error'))
    await signIn(w)
    expect(errorText(w)).toBe('Sign-in failed: internal error')
  })

  it('says why the last session ended', async () => {
    const { w, api, session } = await setup()
    mounted.push(w)
    api.post.mockResolvedValue({ username: 'jan', role: 'OPERATOR', permissions: [], color: '#27ae60', session_timeout: 300 })
    await session.login('jan', 'x', 'OPERATOR')
    session.lost()
    await flushPromises()
    expect(w.find('[data-testid="signin-ended"]').text()).toBe('Sesja wygasła. Zaloguj się ponownie.')
  })

  it('the language buttons switch the words', async () => {
    const { w, i18n } = await setup()
    mounted.push(w)
    await w.find('[data-testid="lang-en"]').trigger('click')
    expect(i18n.lang.value).toBe('en')
    expect(w.find('.hint').text()).toBe('Choose your role to sign in')
    expect(localStorage.getItem('ms.lang')).toBe('en')
  })

  // Pressing Shift for a capital in the middle of the password must not send the half-typed
  // password: that would be a failed sign-in counting towards the account lockout.
  it('pressing Shift on the keyboard while typing the password does not sign in', async () => {
    const { w, api } = await setup()
    mounted.push(w)
    api.post.mockRejectedValue(new ApiError(401, 'unauthorized', 'wrong username, password or role'))
    await w.find('[data-testid="role-OPERATOR"]').trigger('click')
    await w.find('[data-testid="field-username"]').setValue('jan')
    await w.find('[data-testid="field-password"]').trigger('focus')
    for (const k of ['a', 'b']) await w.find(`[data-key="${k}"]`).trigger('click')
    ;(w.find('[data-key="shift"]').element as HTMLButtonElement).click()
    await flushPromises()
    expect(api.post).not.toHaveBeenCalled()
  })

  // OK on the username field moves on to the password field, and submits nothing.
  it('OK on the username field moves to the password without an error', async () => {
    const { w } = await setup()
    mounted.push(w)
    await w.find('[data-testid="role-OPERATOR"]').trigger('click')
    await w.find('[data-testid="field-username"]').setValue('jan')
    ;(w.find('[data-key="enter"]').element as HTMLButtonElement).click()
    await flushPromises()
    expect(w.find('[data-testid="signin-error"]').exists()).toBe(false)
  })

  describe('on the panel', () => {
    const RECENT = [
      { username: 'operator1', role: 'OPERATOR' },
      { username: 'admin1', role: 'ADMIN' },
    ]
    const answer = { username: 'operator1', role: 'OPERATOR', permissions: ['view_sensors'], color: '#27ae60', session_timeout: 300, expires_in: 900 }
    const press = async (w: Awaited<ReturnType<typeof setup>>['w'], keys: string) => {
      for (const k of keys) await w.find(`[data-pin-key="${k}"]`).trigger('click')
    }
    const dots = (w: Awaited<ReturnType<typeof setup>>['w']) => w.find('[data-testid="pin-dots"]').attributes('data-count')

    it('shows the recent users as tiles with their role, and the role tiles for another user', async () => {
      const { w } = await setup('en', RECENT)
      mounted.push(w)
      expect(w.findAll('button.who').map((b) => b.text())).toEqual(['operator1Operator', 'admin1Administrator'])
      expect(w.findAll('button.role')).toHaveLength(4)
      expect(w.text()).toContain('Recent sign-ins on this panel: touch your name')
      expect(w.text()).toContain('Another user: choose the role, then type the name')
    })

    it('one touch on a tile, four digits and OK sign in with the PIN and the tile\'s role', async () => {
      const { w, api, router } = await setup('pl', RECENT)
      mounted.push(w)
      api.post.mockResolvedValue(answer)
      await w.find('[data-testid="recent-operator1"]').trigger('click')
      expect(w.find('[data-testid="pin-user"]').text()).toBe('operator1')
      expect(w.find('[data-testid="pin-step"]').text()).toContain('Wpisz PIN')
      await press(w, '2580')
      expect(dots(w)).toBe('4')
      expect(w.findAll('.dot.on')).toHaveLength(4)
      await w.find('[data-testid="pin-ok"]').trigger('click')
      await flushPromises()
      expect(api.post).toHaveBeenCalledWith('/api/auth/login', { username: 'operator1', pin: '2580', role: 'OPERATOR' })
      expect(router.currentRoute.value.name).toBe('home')
    })

    it('Delete takes the last digit back; at most eight digits; OK before four asks for more', async () => {
      const { w, api } = await setup('en', RECENT)
      mounted.push(w)
      await w.find('[data-testid="recent-admin1"]').trigger('click')
      await press(w, '123')
      await w.find('[data-pin-key="del"]').trigger('click')
      expect(dots(w)).toBe('2')
      await w.find('[data-testid="pin-ok"]').trigger('click')
      expect(errorText(w)).toBe('A PIN has 4 to 8 digits.')
      expect(api.post).not.toHaveBeenCalled()
      await press(w, '1234567890')
      expect(dots(w)).toBe('8')
      expect(w.findAll('.dot')).toHaveLength(8)
    })

    it.each([
      ['pl', 401, 'unauthorized', 'Nieprawidłowy PIN. Spróbuj ponownie albo użyj hasła.'],
      ['en', 401, 'unauthorized', 'Wrong PIN. Try again or use the password.'],
      ['en', 403, 'forbidden', "A PIN works only on the device's panel. Use the password."],
      ['pl', 423, 'locked', 'Konto zablokowane po zbyt wielu nieudanych próbach. Spróbuj ponownie za 5 min.'],
    ] as const)('a refused PIN (%s, %i) says what to do and clears the digits', async (lang, status, code, want) => {
      const { w, api, router } = await setup(lang, RECENT)
      mounted.push(w)
      api.post.mockRejectedValue(new ApiError(status, code, 'account locked after 3 failed sign-ins; try again in 5 min'))
      await w.find('[data-testid="recent-operator1"]').trigger('click')
      await press(w, '1111')
      await w.find('[data-testid="pin-ok"]').trigger('click')
      await flushPromises()
      expect(errorText(w)).toBe(want)
      expect(dots(w)).toBe('0')
      expect(router.currentRoute.value.name).toBe('signin')
    })

    it('"use password" keeps the user and role and signs in with the password', async () => {
      const { w, api } = await setup('pl', RECENT)
      mounted.push(w)
      api.post.mockResolvedValue(answer)
      await w.find('[data-testid="recent-operator1"]').trigger('click')
      await w.find('[data-testid="use-password"]').trigger('click')
      expect((w.find('[data-testid="field-username"]').element as HTMLInputElement).value).toBe('operator1')
      expect(w.find('.chosen').text()).toBe('Logowanie jako: Operator')
      await w.find('[data-testid="field-password"]').setValue('secret')
      await w.find('form').trigger('submit')
      await flushPromises()
      expect(api.post).toHaveBeenCalledWith('/api/auth/login', { username: 'operator1', password: 'secret', role: 'OPERATOR' })
    })

    it('a typed name goes to the keypad with "use PIN", and back returns to the name', async () => {
      const { w, api } = await setup('en', [])
      mounted.push(w)
      api.post.mockResolvedValue(answer)
      expect(w.find('[data-testid="recent-users"]').exists()).toBe(false)
      await w.find('[data-testid="role-SERWISANT"]').trigger('click')
      await w.find('[data-testid="field-username"]').setValue('serwis1')
      await w.find('[data-testid="use-pin"]').trigger('click')
      expect(w.find('[data-testid="pin-user"]').text()).toBe('serwis1')
      await w.find('[data-testid="signin-back"]').trigger('click')
      expect((w.find('[data-testid="field-username"]').element as HTMLInputElement).value).toBe('serwis1')
      await w.find('[data-testid="use-pin"]').trigger('click')
      // A physical keyboard types too.
      for (const key of ['1', '5', '9', '0', 'Enter']) window.dispatchEvent(new KeyboardEvent('keydown', { key }))
      await flushPromises()
      expect(api.post).toHaveBeenCalledWith('/api/auth/login', { username: 'serwis1', pin: '1590', role: 'SERWISANT' })
    })

    it('beyond the panel (403): no tiles and no "use PIN"', async () => {
      const { w } = await setup('en', Promise.reject(new ApiError(403, 'forbidden', "the recent users are shown only on the device's own panel")))
      mounted.push(w)
      expect(w.find('[data-testid="recent-users"]').exists()).toBe(false)
      await w.find('[data-testid="role-OPERATOR"]').trigger('click')
      expect(w.find('[data-testid="use-pin"]').exists()).toBe(false)
      expect(w.find('[data-testid="osk"]').exists()).toBe(true)
    })
  })
})
