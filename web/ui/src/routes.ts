// The screens and who may see them. A screen needs one permission; the navigation shows only
// the screens the signed-in role may open, so no button leads to a refusal.
import type { RouteComponent, RouteLocationNormalized, RouteRecordRaw } from 'vue-router'
import HomeView from './views/HomeView.vue'
import SignInView from './views/SignInView.vue'
import type { Session } from './stores/session'

export interface Screen {
  name: string
  path: string
  /** the permission the screen needs */
  permission: string
  /** the i18n key of its navigation label */
  label: string
}

/** SCREENS are the screens in the navigation, in its order. */
export const SCREENS: readonly Screen[] = [
  { name: 'home', path: '/', permission: 'view_sensors', label: 'nav.home' },
  { name: 'trends', path: '/trends', permission: 'view_sensors', label: 'nav.trends' },
  { name: 'alerts', path: '/alerts', permission: 'view_alerts', label: 'nav.alerts' },
]

// Sign-in and home come with the first load, so the live values show without another round
// trip; trends (with uPlot) and alerts load when first opened.
const views: Record<string, RouteComponent | (() => Promise<RouteComponent>)> = {
  home: HomeView,
  trends: () => import('./views/TrendsView.vue'),
  alerts: () => import('./views/AlertsView.vue'),
}

export const routes: RouteRecordRaw[] = [
  { name: 'signin', path: '/signin', component: SignInView, meta: { public: true } },
  ...SCREENS.map((s) => ({ name: s.name, path: s.path, component: views[s.name], meta: { permission: s.permission } }) as RouteRecordRaw),
  { path: '/:rest(.*)*', redirect: '/' },
]

/** visibleScreens are the screens the signed-in user may open. */
export function visibleScreens(session: Pick<Session, 'can'>): Screen[] {
  return SCREENS.filter((s) => session.can(s.permission))
}

/** guard sends a visitor without a session to the sign-in (or, on the panel's live view, to
 *  home, the one screen it shows signed out), and a user away from a screen their role may
 *  not open. */
export function guard(session: Pick<Session, 'can' | 'state'>) {
  return (to: RouteLocationNormalized) => {
    const signedIn = !!session.state.user
    if (to.meta.public) return signedIn ? { name: 'home' } : true
    if (!signedIn) return to.name === 'home' && session.state.liveView ? true : { name: 'signin' }
    const p = to.meta.permission as string | undefined
    if (p && !session.can(p)) return { name: 'home' }
    return true
  }
}
