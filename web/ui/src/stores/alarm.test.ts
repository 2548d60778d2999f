import { describe, expect, it } from 'vitest'
import { nextTick, reactive } from 'vue'
import { createAlarm } from './alarm'
import type { Alert } from './alerts'

const alert = (id: number, over: Partial<Alert> = {}) =>
  ({ id, type: 'CRITICAL', state: 'ACTIVE_UNACK', reactivations: 0, escalated_at: null, ...over }) as Alert

function setup(enabled = true) {
  const open = reactive(new Map<number, Alert>())
  const plays: boolean[] = []
  const remembered: boolean[] = []
  const alarm = createAlarm({
    open: () => open.values(),
    tone: { play: (on: boolean) => plays.push(on) },
    enabled,
    remember: (on) => remembered.push(on),
  })
  return { open, plays, remembered, alarm }
}

describe('createAlarm', () => {
  it('sounds while an unacknowledged critical alarm exists, stops on acknowledge', async () => {
    const { open, plays } = setup()
    expect(plays).toEqual([false])
    open.set(1, alert(1))
    await nextTick()
    expect(plays.at(-1)).toBe(true)
    open.set(1, alert(1, { state: 'ACTIVE_ACK' }))
    await nextTick()
    expect(plays.at(-1)).toBe(false)
  })

  it('silence lasts until the next new alarm', async () => {
    const { open, plays, alarm } = setup()
    open.set(1, alert(1))
    await nextTick()
    alarm.silence()
    await nextTick()
    expect(plays.at(-1)).toBe(false)
    expect(alarm.wanted.value).toBe(false)
    open.set(1, alert(1, { state: 'CLEARED_UNACK' })) // the same alarm cleared: still silent
    await nextTick()
    expect(plays.at(-1)).toBe(false)
    open.set(2, alert(2)) // a new one
    await nextTick()
    expect(plays.at(-1)).toBe(true)
  })

  it('a silenced alarm that reactivates sounds again', async () => {
    const { open, plays, alarm } = setup()
    open.set(1, alert(1))
    await nextTick()
    alarm.silence()
    await nextTick()
    open.set(1, alert(1, { reactivations: 1 }))
    await nextTick()
    expect(plays.at(-1)).toBe(true)
  })

  it('the setting turns it off and on, and is remembered', async () => {
    const { open, plays, alarm, remembered } = setup(false)
    open.set(1, alert(1))
    await nextTick()
    expect(plays).toEqual([false])
    alarm.setEnabled(true)
    await nextTick()
    expect(plays.at(-1)).toBe(true)
    alarm.setEnabled(false)
    await nextTick()
    expect(plays.at(-1)).toBe(false)
    expect(remembered).toEqual([true, false])
  })

  it('forgets the silence of alarms that are gone', async () => {
    const { open, alarm } = setup()
    open.set(1, alert(1))
    await nextTick()
    alarm.silence()
    open.delete(1)
    await nextTick()
    expect(alarm.state.silenced.size).toBe(0)
  })
})
