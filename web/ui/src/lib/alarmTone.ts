// The audible alarm: a tone made in the page with Web Audio (nothing is fetched) while an
// unacknowledged critical alarm exists and nobody has silenced it. Silencing lasts until the
// next new alarm: a critical alert not seen before, one reactivated, or a warning escalated to
// critical. The pattern is the high-priority one of IEC 60601-1-8 in shape (3 + 2 pulses,
// repeated), so it is told apart from any other beep on the shop floor.
import type { Alert } from '../stores/alerts'

/** Pulse is one beep of the pattern: its start after the burst's, and its length, in s. */
export interface Pulse {
  at: number
  length: number
}

/** CRITICAL_PATTERN is one burst: three pulses, a pause, two pulses. */
export const CRITICAL_PATTERN: readonly Pulse[] = [
  { at: 0, length: 0.15 },
  { at: 0.25, length: 0.15 },
  { at: 0.5, length: 0.15 },
  { at: 1.0, length: 0.15 },
  { at: 1.25, length: 0.15 },
]
/** BURST_EVERY_S is the time from one burst's start to the next. */
export const BURST_EVERY_S = 3
/** TONE_HZ is the pulses' pitch: clear through ear protection, far from mains hum. */
export const TONE_HZ = 880
const LEVEL = 0.25 // the pulses' gain: a square wave is loud
const RAMP_S = 0.01 // each pulse fades in and out over this, so it does not click

/** alarmKey names an alarm as the silence remembers it: a reactivation or an escalation to
 *  critical is a new alarm, which sounds again. */
export function alarmKey(a: Pick<Alert, 'id' | 'reactivations' | 'escalated_at'>): string {
  return `${a.id}:${a.reactivations}:${a.escalated_at ?? ''}`
}

/** soundingAlarms are the alarms the tone is for: critical and unacknowledged (active or
 *  cleared: until someone acknowledges it the alarm stands). */
export function soundingAlarms(alerts: Iterable<Pick<Alert, 'id' | 'type' | 'state' | 'reactivations' | 'escalated_at'>>): string[] {
  const keys: string[] = []
  for (const a of alerts) {
    if (a.type === 'CRITICAL' && (a.state === 'ACTIVE_UNACK' || a.state === 'CLEARED_UNACK')) keys.push(alarmKey(a))
  }
  return keys
}

/** shouldSound tells whether the tone plays: the sound is on and some sounding alarm was
 *  not silenced. */
export function shouldSound(enabled: boolean, alarms: readonly string[], silenced: ReadonlySet<string>): boolean {
  return enabled && alarms.some((k) => !silenced.has(k))
}

/** ToneContext is the part of AudioContext the tone uses (a fake one in tests). */
export interface ToneContext {
  readonly currentTime: number
  readonly state: string
  readonly destination: unknown
  onstatechange: ((ev: Event) => void) | null
  resume(): Promise<void>
  createOscillator(): {
    type: string
    frequency: { value: number }
    connect(n: unknown): unknown
    start(t: number): void
    stop(t?: number): void
  }
  createGain(): {
    gain: { setValueAtTime(v: number, t: number): unknown; linearRampToValueAtTime(v: number, t: number): unknown }
    connect(n: unknown): unknown
  }
}

export interface ToneOptions {
  /** makes the audio context, at the first tone (new AudioContext() in the page); null when
   *  the browser has no Web Audio */
  context: () => ToneContext | null
  setInterval?: (fn: () => void, ms: number) => unknown
  clearInterval?: (id: unknown) => void
  /** onChange hears whether the tone is sounding (playing in a running context) */
  onChange?: (sounding: boolean) => void
}

/** createTone makes the tone player: play(true) starts the pattern, play(false) stops it. A
 *  context the browser keeps suspended (autoplay policy, no gesture yet) plays from the first
 *  resume(), which the page calls on every touch. */
export function createTone(opts: ToneOptions) {
  const every = opts.setInterval ?? ((fn, ms) => setInterval(fn, ms))
  const clear = opts.clearInterval ?? ((id) => clearInterval(id as ReturnType<typeof setInterval>))
  let ctx: ToneContext | null = null
  let timer: unknown = null
  let wanted = false
  let sounding = false
  let live: ReturnType<ToneContext['createOscillator']>[] = [] // the pulses scheduled, to cut short

  function report() {
    const now = wanted && ctx?.state === 'running'
    if (now !== sounding) {
      sounding = now
      opts.onChange?.(now)
    }
  }

  function context(): ToneContext | null {
    if (!ctx) {
      ctx = opts.context()
      if (ctx) ctx.onstatechange = report
    }
    return ctx
  }

  /** burst schedules one pattern from now on the context's clock. */
  function burst(c: ToneContext) {
    const t0 = c.currentTime + 0.05
    live = []
    for (const p of CRITICAL_PATTERN) {
      const osc = c.createOscillator()
      const g = c.createGain()
      osc.type = 'square'
      osc.frequency.value = TONE_HZ
      const a = t0 + p.at
      const b = a + p.length
      g.gain.setValueAtTime(0, a)
      g.gain.linearRampToValueAtTime(LEVEL, a + RAMP_S)
      g.gain.setValueAtTime(LEVEL, b - RAMP_S)
      g.gain.linearRampToValueAtTime(0, b)
      osc.connect(g)
      g.connect(c.destination)
      osc.start(a)
      osc.stop(b)
      live.push(osc)
    }
  }

  function play(on: boolean) {
    if (on === wanted) return
    wanted = on
    if (on) {
      const c = context()
      if (!c) return
      void c.resume().catch(() => {}) // refused without a gesture: resume() on the next touch
      burst(c)
      timer = every(() => ctx && burst(ctx), BURST_EVERY_S * 1000)
    } else {
      if (timer !== null) clear(timer)
      timer = null
      for (const o of live) {
        try {
          o.stop()
        } catch {
          // already stopped
        }
      }
      live = []
    }
    report()
  }

  return {
    play,
    /** resume lets a suspended context play: call it from a touch (a user gesture) */
    resume() {
      if (ctx && ctx.state !== 'running') void ctx.resume().then(report, () => {})
    },
    /** sounding tells whether the tone is playing now */
    get sounding() {
      return sounding
    },
    /** wanted tells whether the tone should play (it may wait for a gesture) */
    get wanted() {
      return wanted
    },
  }
}

export type Tone = ReturnType<typeof createTone>
