// The words of the panel's live view, shown while nobody is signed in on the LCD.
import type { Messages } from '../lib/i18n'

export const liveview: Messages = {
  pl: {
    'liveview.title': 'Podgląd',
    'liveview.note': 'Nikt nie jest zalogowany. Aby potwierdzić alarm lub obsługiwać stanowisko, zaloguj się.',
    'liveview.signin': 'Zaloguj',
    'liveview.back': 'Podgląd',
  },
  en: {
    'liveview.title': 'View only',
    'liveview.note': 'Nobody is signed in. To acknowledge an alarm or operate the station, sign in.',
    'liveview.signin': 'Sign in',
    'liveview.back': 'Live view',
  },
}
