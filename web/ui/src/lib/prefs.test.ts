import { beforeEach, describe, expect, it } from 'vitest'
import { alarmSound, isPanel, rememberAlarmSound } from './prefs'

beforeEach(() => localStorage.clear())

describe('alarmSound', () => {
  it.each([
    ['nothing chosen, the panel: on', null, true, true],
    ['nothing chosen, a phone: off', null, false, false],
    ['chosen off on the panel', false, true, false],
    ['chosen on on a phone', true, false, true],
  ])('%s', (_, chosen, onPanel, want) => {
    if (chosen !== null) rememberAlarmSound(chosen)
    expect(alarmSound(onPanel)).toBe(want)
  })
})

describe('isPanel', () => {
  it.each([
    ['127.0.0.1', false, true],
    ['localhost', false, true],
    ['[::1]', false, true],
    ['127.0.0.1', true, false], // a narrow screen on loopback is no panel
    ['192.168.1.20', false, false],
    ['maskservice.local', false, false],
  ])('%s narrow=%s → %s', (host, narrow, want) => {
    expect(isPanel(host, narrow)).toBe(want)
  })
})
