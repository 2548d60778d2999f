// The audible alarm's state: which alarms sound, the silence, and the setting. The tone
// itself is lib/alarmTone.ts; this decides when it plays.
import { computed, reactive, readonly, watch, type InjectionKey } from 'vue'
import { shouldSound, soundingAlarms, type Tone } from '../lib/alarmTone'
import type { Alert } from './alerts'

export interface AlarmOptions {
  /** the open alerts, kept current by the alerts store */
  open: () => Iterable<Alert>
  tone: Pick<Tone, 'play'>
  /** whether the sound is on at start (lib/prefs.ts alarmSound) */
  enabled: boolean
  /** whether this browser can make a tone at all (Web Audio); the setting says so if not */
  available?: boolean
  /** remember keeps a change of the setting (lib/prefs.ts rememberAlarmSound) */
  remember?: (on: boolean) => void
}

export function createAlarm(opts: AlarmOptions) {
  const state = reactive({
    enabled: opts.enabled,
    /** the alarms sounding when someone silenced them */
    silenced: new Set<string>(),
    /** whether the tone is playing (the tone's report, set by whoever owns it) */
    sounding: false,
    available: opts.available ?? true,
  })
  const alarms = computed(() => soundingAlarms(opts.open()))
  const wanted = computed(() => shouldSound(state.enabled, alarms.value, state.silenced))

  // An alarm acknowledged or closed leaves the silence too: the set stays small.
  watch(alarms, (keys) => {
    for (const k of [...state.silenced]) if (!keys.includes(k)) state.silenced.delete(k)
  })
  watch(wanted, (on) => opts.tone.play(on), { immediate: true })

  return {
    state: readonly(state),
    /** the keys of the alarms the tone is for (lib/alarmTone.ts alarmKey) */
    alarms,
    /** whether the tone should play now */
    wanted,
    /** silence quiets the alarms sounding now, until a new one comes */
    silence() {
      for (const k of alarms.value) state.silenced.add(k)
    },
    setEnabled(on: boolean) {
      state.enabled = on
      opts.remember?.(on)
    },
    setSounding(on: boolean) {
      state.sounding = on
    },
  }
}

export type Alarm = ReturnType<typeof createAlarm>
export const ALARM: InjectionKey<Alarm> = Symbol('alarm')
