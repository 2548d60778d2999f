// The words of the panel's quick sign-in: the recent users' tiles and the PIN keypad.
import type { Messages } from '../lib/i18n'

export const pin: Messages = {
  pl: {
    'pin.recent': 'Ostatnie logowania na tym panelu: dotknij swojej nazwy',
    'pin.other': 'Inny użytkownik: wybierz rolę i wpisz nazwę',
    'pin.enter': 'Wpisz PIN',
    'pin.entered': 'Wpisane cyfry PIN: {n}',
    'pin.delete': 'Usuń',
    'pin.delete_label': 'Usuń ostatnią cyfrę',
    'pin.ok': 'OK',
    'pin.ok_label': 'Zaloguj kodem PIN',
    'pin.use_password': 'Użyj hasła',
    'pin.use_pin': 'Użyj kodu PIN',
    'pin.change_user': 'Zmień użytkownika',
    'pin.err.bad': 'Nieprawidłowy PIN. Spróbuj ponownie albo użyj hasła.',
    'pin.err.short': 'PIN ma od 4 do 8 cyfr.',
    'pin.err.not_panel': 'PIN działa tylko na panelu urządzenia. Użyj hasła.',
  },
  en: {
    'pin.recent': 'Recent sign-ins on this panel: touch your name',
    'pin.other': 'Another user: choose the role, then type the name',
    'pin.enter': 'Type your PIN',
    'pin.entered': 'PIN digits typed: {n}',
    'pin.delete': 'Delete',
    'pin.delete_label': 'Delete the last digit',
    'pin.ok': 'OK',
    'pin.ok_label': 'Sign in with the PIN',
    'pin.use_password': 'Use password',
    'pin.use_pin': 'Use PIN',
    'pin.change_user': 'Change user',
    'pin.err.bad': 'Wrong PIN. Try again or use the password.',
    'pin.err.short': 'A PIN has 4 to 8 digits.',
    'pin.err.not_panel': "A PIN works only on the device's panel. Use the password.",
  },
}
