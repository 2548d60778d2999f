import { createApp, watch } from 'vue'
import { createRouter, createWebHistory } from 'vue-router'
import App from './App.vue'
import './style.css'
import { API, createApi, csrfToken } from './lib/api'
import { createI18n, I18N } from './lib/i18n'
import { common } from './i18n/common'
import { trends } from './i18n/trends'
import { hmi } from './i18n/hmi'
import { pin } from './i18n/pin'
import { liveview } from './i18n/liveview'
import { tile } from './i18n/tile'
import { alarmSound, isPanel, lastLang, rememberAlarmSound } from './lib/prefs'
import { NARROW } from './lib/media'
import { createTone } from './lib/alarmTone'
import { ALARM, createAlarm } from './stores/alarm'
import { createSession, SESSION } from './stores/session'
import { createLive, LIVE } from './stores/live'
import { createAlerts, ALERTS } from './stores/alerts'
import { routes, guard } from './routes'

const i18n = createI18n([common, trends, pin, liveview, hmi, tile], lastLang())
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
  // The socket was refused for its token: a refresh may help (signed out: may clear a stale
  // cookie); see Session.socketRefused.
  onAuthFailed: () => session.socketRefused(),
})

// The audible alarm: on by default on the panel, off on a phone; the page makes the tone.
const tone = createTone({
  context: () => (typeof AudioContext === 'function' ? new AudioContext() : null),
  onChange: (on) => {
    alarm.setSounding(on)
    document.documentElement.dataset.alarmSounding = String(on)
  },
})
const alarm = createAlarm({
  open: () => alerts.state.open.values(),
  tone,
  enabled: alarmSound(isPanel(location.hostname, matchMedia(NARROW).matches)),
  available: typeof AudioContext === 'function',
  remember: rememberAlarmSound,
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

function startLive() {
  live.start() // each socket that opens loads the alerts again
  void alerts.load() // and now, in case no socket gets through
}

/** showLiveView starts the panel's live view if the server serves it signed out: once the
 *  last logout has gone through, so the socket does not carry the ended session's cookie. A
 *  device that does not answer is asked again in a while. */
async function showLiveView() {
  await session.whenSignedOut()
  const was = session.state.liveView
  const ok = await session.probeLiveView()
  if (session.state.user) return // signed in meanwhile: the watch below started the data
  if (ok) {
    startLive()
    // Newly known: the sign-in screen shown meanwhile gives way (nobody chose it).
    if (!was && router.currentRoute.value.name === 'signin') void router.replace({ name: 'home' })
  }
  else if (ok === null) setTimeout(() => void showLiveView(), 5000)
  else if (router.currentRoute.value.name === 'home') void router.replace({ name: 'signin' })
}

// Live data and alerts run while someone is signed in, and signed out on the panel's live
// view. The panel's socket goes on for the user who signs in there; at sign-out the data is
// forgotten and the live view starts again from nothing.
watch(
  () => session.state.user?.username,
  (user, before) => {
    if (user && !before) startLive()
    else if (!user && before) {
      live.stop()
      alerts.clear()
      void router.replace({ name: session.state.liveView ? 'home' : 'signin' })
      void showLiveView()
    }
  },
)

// Any touch or key counts as activity for the idle timeout; and a browser that holds sound
// back until a gesture (a phone; the kiosk should not) plays the alarm from the first touch on.
for (const ev of ['pointerdown', 'keydown', 'wheel'] as const) {
  window.addEventListener(ev, () => {
    session.touch()
    if (ev !== 'wheel') tone.resume()
  }, { passive: true, capture: true })
}

void session.restore(() => csrfToken(document.cookie) !== '').then(async () => {
  // Signed out: ask about the live view before the first screen is chosen; signed in, ask
  // anyway, so that the sign-out goes straight to it.
  if (!session.state.user) await showLiveView()
  else void session.probeLiveView()
  const app = createApp(App)
  app.provide(API, api)
  app.provide(I18N, i18n)
  app.provide(SESSION, session)
  app.provide(LIVE, live)
  app.provide(ALERTS, alerts)
  app.provide(ALARM, alarm)
  app.use(router)
  app.mount('#app')
})
