// Preferences kept in the browser: the language, per user and the last one chosen, and the
// audible alarm on or off for this screen. Never a token: the session lives in HttpOnly
// cookies.
import { isLang, type Lang } from './i18n'

const LAST = 'ms.lang'
const userKey = (username: string) => 'ms.lang.' + username

function get(key: string): string | null {
  try {
    return localStorage.getItem(key)
  } catch {
    return null // storage disabled: fall back to the default
  }
}

function set(key: string, v: string) {
  try {
    localStorage.setItem(key, v)
  } catch {
    // storage disabled or full: the choice lasts until the page reloads
  }
}

/** lastLang is the language last chosen on this screen, Polish if none. */
export function lastLang(): Lang {
  const v = get(LAST)
  return isLang(v) ? v : 'pl'
}

/** userLang is the language the user chose last time, or null. */
export function userLang(username: string): Lang | null {
  const v = get(userKey(username))
  return isLang(v) ? v : null
}

/** rememberLang keeps the language for the user and as the screen's last choice. */
export function rememberLang(lang: Lang, username?: string) {
  set(LAST, lang)
  if (username) set(userKey(username), lang)
}

const ALARM_SOUND = 'ms.alarm_sound'

/** alarmSound is whether the audible alarm is on here: as last chosen on this screen, else
 *  onPanel (on for the LCD, off for a phone). */
export function alarmSound(onPanel: boolean): boolean {
  const v = get(ALARM_SOUND)
  return v === 'on' ? true : v === 'off' ? false : onPanel
}

/** rememberAlarmSound keeps the choice of the audible alarm for this screen. */
export function rememberAlarmSound(on: boolean) {
  set(ALARM_SOUND, on ? 'on' : 'off')
}

/** isPanel tells the LCD: the kiosk's browser opens the daemon on loopback, and its screen is
 *  wide; a phone, or a browser elsewhere, is not the panel. */
export function isPanel(hostname: string, narrow: boolean): boolean {
  return !narrow && (hostname === 'localhost' || hostname === '::1' || hostname === '[::1]' || /^127\./.test(hostname))
}
