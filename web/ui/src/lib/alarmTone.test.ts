import { describe, expect, it, vi } from 'vitest'
import { BURST_EVERY_S, CRITICAL_PATTERN, TONE_HZ, alarmKey, createTone, shouldSound, soundingAlarms, type ToneContext } from './alarmTone'

/** FakeContext records what the tone schedules; it starts suspended or running. */
class FakeContext implements ToneContext {
  currentTime = 10
  state: string
  destination = { node: 'out' }
  onstatechange: ((ev: Event) => void) | null = null
  oscillators: { type: string; frequency: { value: number }; starts: number[]; stops: (number | undefined)[] }[] = []
  gains: { calls: [string, number, number][] }[] = []
  resumes = 0
  constructor(
    state = 'running',
    private allowResume = true,
  ) {
    this.state = state
  }
  resume() {
    this.resumes++
    if (!this.allowResume) return Promise.reject(new Error('NotAllowedError'))
    this.state = 'running'
    this.onstatechange?.(new Event("statechange"))
    return Promise.resolve()
  }
  createOscillator() {
    const o = {
      type: 'sine',
      frequency: { value: 440 },
      starts: [] as number[],
      stops: [] as (number | undefined)[],
      connect: (n: unknown) => n,
      start(t: number) {
        o.starts.push(t)
      },
      stop(t?: number) {
        o.stops.push(t)
      },
    }
    this.oscillators.push(o)
    return o
  }
  createGain() {
    const g = { calls: [] as [string, number, number][] }
    this.gains.push(g)
    return {
      gain: {
        setValueAtTime: (v: number, t: number) => g.calls.push(['set', v, t]),
        linearRampToValueAtTime: (v: number, t: number) => g.calls.push(['ramp', v, t]),
      },
      connect: (n: unknown) => n,
    }
  }
}

function setup(ctx: FakeContext | null = new FakeContext()) {
  const timers: { fn: () => void; ms: number; cleared: boolean }[] = []
  const changes: boolean[] = []
  const tone = createTone({
    context: () => ctx,
    setInterval: (fn, ms) => {
      const t = { fn, ms, cleared: false }
      timers.push(t)
      return t
    },
    clearInterval: (t) => ((t as { cleared: boolean }).cleared = true),
    onChange: (on) => changes.push(on),
  })
  return { tone, ctx, timers, changes }
}

const alert = (over: Record<string, unknown> = {}) => ({
  id: 1, type: 'CRITICAL' as const, state: 'ACTIVE_UNACK' as const, reactivations: 0, escalated_at: null, ...over,
})

describe('soundingAlarms', () => {
  it.each([
    ['an unacknowledged critical alarm', alert(), ['1:0:']],
    ['cleared but unacknowledged: still stands', alert({ state: 'CLEARED_UNACK' }), ['1:0:']],
    ['acknowledged: silent', alert({ state: 'ACTIVE_ACK' }), []],
    ['closed: silent', alert({ state: 'CLOSED' }), []],
    ['a warning: silent', alert({ type: 'WARNING' }), []],
    ['a sensor fault: silent', alert({ type: 'SENSOR_FAULT' }), []],
    ['a device fault: the banner, not the tone', alert({ type: 'DEVICE_FAULT' }), []],
  ])('%s', (_, a, want) => {
    expect(soundingAlarms([a])).toEqual(want)
  })

  it('a reactivation or an escalation is a new alarm', () => {
    const k = alarmKey(alert())
    expect(alarmKey(alert({ reactivations: 1 }))).not.toBe(k)
    expect(alarmKey(alert({ escalated_at: '2026-12-04T10:00:00Z' }))).not.toBe(k)
    expect(alarmKey(alert({ id: 2 }))).not.toBe(k)
  })
})

describe('shouldSound', () => {
  it.each([
    ['an alarm, sound on', true, ['1:0:'], [], true],
    ['no alarm', true, [], [], false],
    ['sound off', false, ['1:0:'], [], false],
    ['silenced', true, ['1:0:'], ['1:0:'], false],
    ['silenced, then a new alarm', true, ['1:0:', '2:0:'], ['1:0:'], true],
    ['silenced, then the same alarm reactivated', true, ['1:1:'], ['1:0:'], true],
  ])('%s', (_, enabled, alarms, silenced, want) => {
    expect(shouldSound(enabled, alarms, new Set(silenced))).toBe(want)
  })
})

describe('createTone', () => {
  it('plays the critical pattern: square pulses at TONE_HZ, with fades, repeated every burst', () => {
    const { tone, ctx, timers, changes } = setup()
    tone.play(true)
    expect(tone.sounding).toBe(true)
    expect(changes).toEqual([true])
    expect(ctx!.oscillators).toHaveLength(CRITICAL_PATTERN.length)
    const t0 = ctx!.oscillators[0].starts[0]
    ctx!.oscillators.forEach((o, i) => {
      expect(o.type).toBe('square')
      expect(o.frequency.value).toBe(TONE_HZ)
      expect(o.starts[0] - t0).toBeCloseTo(CRITICAL_PATTERN[i].at)
      expect(o.stops[0]! - o.starts[0]).toBeCloseTo(CRITICAL_PATTERN[i].length)
    })
    // each pulse starts and ends at zero gain: no click
    for (const g of ctx!.gains) {
      expect(g.calls[0][1]).toBe(0)
      expect(g.calls.at(-1)![1]).toBe(0)
    }
    expect(timers).toHaveLength(1)
    expect(timers[0].ms).toBe(BURST_EVERY_S * 1000)
    timers[0].fn()
    expect(ctx!.oscillators).toHaveLength(2 * CRITICAL_PATTERN.length)
  })

  it('three pulses, a pause, two pulses: told apart from a steady beep', () => {
    const gaps = CRITICAL_PATTERN.slice(1).map((p, i) => p.at - CRITICAL_PATTERN[i].at)
    expect(gaps[0]).toBe(gaps[1])
    expect(gaps[2]).toBeGreaterThan(gaps[1])
  })

  it('stops: no more bursts, the scheduled pulses cut short', () => {
    const { tone, ctx, timers, changes } = setup()
    tone.play(true)
    tone.play(false)
    expect(tone.sounding).toBe(false)
    expect(changes).toEqual([true, false])
    expect(timers[0].cleared).toBe(true)
    for (const o of ctx!.oscillators) expect(o.stops).toHaveLength(2)
  })

  it('a second play(true) does not stack a second pattern', () => {
    const { tone, ctx, timers } = setup()
    tone.play(true)
    tone.play(true)
    expect(timers).toHaveLength(1)
    expect(ctx!.oscillators).toHaveLength(CRITICAL_PATTERN.length)
  })

  it('a context held back by the autoplay policy: wanted, not sounding, until a touch resumes it', async () => {
    const ctx = new FakeContext('suspended', false)
    const { tone, changes } = setup(ctx)
    tone.play(true)
    await Promise.resolve()
    expect(tone.wanted).toBe(true)
    expect(tone.sounding).toBe(false)
    expect(changes).toEqual([])
    // the touch: the browser now allows it
    ;(ctx as unknown as { allowResume: boolean }).allowResume = true
    tone.resume()
    await Promise.resolve()
    expect(tone.sounding).toBe(true)
    expect(changes).toEqual([true])
  })

  it('no Web Audio in the browser: nothing plays, nothing throws', () => {
    const { tone, changes } = setup(null)
    expect(() => tone.play(true)).not.toThrow()
    expect(tone.sounding).toBe(false)
    expect(changes).toEqual([])
    const resume = vi.fn()
    tone.resume()
    expect(resume).not.toHaveBeenCalled()
  })
})
