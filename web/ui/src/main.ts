import { createApp, watch } from 'vue'
import { createRouter, createWebHistory } from 'vue-router'
import App from './App.vue'
import './style.css'
import { API, createApi, csrfToken } from './lib/api'
import { createI18n, I18N } from './lib/i18n'
import { common } from './i18n/common'
import { trends } from './i18n/trends'
import { hmi } from './i18n/hmi'
import { lastLang } from './lib/prefs'
import { createSession, SESSION } from './stores/session'
import { createLive, LIVE } from './stores/live'
import { createAlerts, ALERTS } from './stores/alerts'
import { routes, guard } from './routes'

const i18n = createI18n([common, trends, hmi], lastLang())
watch(i18n.lang, (l) => (document.documentElement.lang = l), { immediate: true })

// The api tells the session when a refresh fails; the session is created after it.
let sessionLost = () => {}
const api = createApi({ onSessionLost: () => sessionLost() })
const session = createSession(api)
sessionLost = () => session.lost()
const alerts = createAlerts(api)
const live = createLive({
  api,
  onAlert: (a) => alerts.apply(a),
  onOpen: () => void alerts.load(),
  // The socket was refused for its token: a refresh may help; if the server refuses that
  // too the session is over, and if it does not answer the socket keeps trying.
  onAuthFailed: async () => {
    const r = await api.refresh()
    if (r === 'refused') session.lost()
    return r !== 'refused'
  },
})

const router = createRouter({ history: createWebHistory(), routes })
router.beforeEach(guard(session))
// A screen's code that cannot be loaded is, on a page left open across an upgrade, a chunk of
// the previous build: the new build is one reload away (once: a loop would hide a real fault).
router.onError((err, to) => {
  const key = 'ms.reloaded'
  if (/dynamically imported module|Importing a module script failed/i.test(String(err)) && !sessionStorage.getItem(key)) {
    sessionStorage.setItem(key, '1')
    location.assign(to.fullPath)
  }
})
router.afterEach(() => sessionStorage.removeItem('ms.reloaded'))

// Live data and alerts run while someone is signed in.
watch(
  () => session.state.user?.username,
  (user, before) => {
    if (user && !before) {
      live.start() // each socket that opens loads the alerts again
      void alerts.load() // and now, in case no socket gets through
    } else if (!user && before) {
      live.stop()
      alerts.clear()
      void router.replace({ name: 'signin' })
    }
  },
)

// Any touch or key counts as activity for the idle timeout.
for (const ev of ['pointerdown', 'keydown', 'wheel'] as const) {
  window.addEventListener(ev, () => session.touch(), { passive: true, capture: true })
}

void session.restore(() => csrfToken(document.cookie) !== '').then(() => {
  const app = createApp(App)
  app.provide(API, api)
  app.provide(I18N, i18n)
  app.provide(SESSION, session)
  app.provide(LIVE, live)
  app.provide(ALERTS, alerts)
  app.use(router)
  app.mount('#app')
})
