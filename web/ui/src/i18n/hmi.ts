// The words of the HMI work (issue 16: gloves, 2 m, ISA-101): the banner's trip and its
// time, a cleared alarm, acknowledge-all, the keyboard's layers and the trend's legend. Kept
// apart from common.ts so that the two can change without touching each other.
import type { Messages } from '../lib/i18n'

export const hmi: Messages = {
  pl: {
    'hmi.banner.critical': 'ALARM KRYTYCZNY',
    'hmi.banner.device': 'AWARIA URZĄDZENIA',
    'hmi.banner.at': 'o {time}',
    'hmi.banner.now': 'teraz {value} {unit}',
    'hmi.cleared': 'USTĄPIŁ {time}',
    'hmi.ack_all': 'Potwierdź wszystkie ({n})',
    'hmi.ack_all_failed': 'Nie udało się potwierdzić wszystkich: {msg}',
    'hmi.kb.done': 'Gotowe',
    'hmi.legend.warning': 'granica ostrzeżenia',
    'hmi.legend.critical': 'granica krytyczna',
  },
  en: {
    'hmi.banner.critical': 'CRITICAL ALARM',
    'hmi.banner.device': 'DEVICE FAULT',
    'hmi.banner.at': 'at {time}',
    'hmi.banner.now': 'now {value} {unit}',
    'hmi.cleared': 'CLEARED {time}',
    'hmi.ack_all': 'Acknowledge all ({n})',
    'hmi.ack_all_failed': 'Could not acknowledge all: {msg}',
    'hmi.kb.done': 'Done',
    'hmi.legend.warning': 'warning limit',
    'hmi.legend.critical': 'critical limit',
  },
}
