// The words of a tapped tile: the way from a sensor's trend to its alerts, and the alerts
// screen filtered to that sensor (issue 16, "tap a tile").
import type { Messages } from '../lib/i18n'

export const tile: Messages = {
  pl: {
    'tile.open': '{sensor}: otwórz trend i alarmy',
    'tile.alerts': 'Alarmy {sensor}',
    'tile.alerts_open': 'Alarmy {sensor} ({n})',
    'tile.filter': 'Tylko {sensor}',
    'tile.filter_clear': 'Wszystkie czujniki',
    'tile.filter_empty': 'Brak otwartych alarmów czujnika {sensor}.',
  },
  en: {
    'tile.open': '{sensor}: open trend and alarms',
    'tile.alerts': '{sensor} alarms',
    'tile.alerts_open': '{sensor} alarms ({n})',
    'tile.filter': 'Only {sensor}',
    'tile.filter_clear': 'All sensors',
    'tile.filter_empty': 'No open alarms of {sensor}.',
  },
}
