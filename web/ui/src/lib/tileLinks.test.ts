import { describe, expect, it } from 'vitest'
import { alertsLink, ofSensor, sensorFilter, trendLink, withSensor } from './tileLinks'

describe('tile links', () => {
  it('lead to the trend and to the alerts of that sensor', () => {
    expect(trendLink('P2')).toEqual({ name: 'trends', query: { sensor: 'P2' } })
    expect(alertsLink('P3')).toEqual({ name: 'alerts', query: { sensor: 'P3' } })
  })
})

describe('sensorFilter', () => {
  const ids = ['P1', 'P2', 'P3']
  it.each([
    ['a known sensor', { sensor: 'P2' }, ids, 'P2'],
    ['no sensor', {}, ids, ''],
    ['an empty sensor', { sensor: '' }, ids, ''],
    ['an unknown sensor', { sensor: 'P9' }, ids, ''],
    ['a repeated key', { sensor: ['P1', 'P2'] }, ids, ''],
    ['sensors not known yet', { sensor: 'P9' }, [], 'P9'],
  ])('%s', (_, query, known, want) => {
    expect(sensorFilter(query, known)).toBe(want)
  })
})

describe('withSensor', () => {
  it.each([
    ['sets it, keeping the rest', { range: '1h' }, 'P2', { range: '1h', sensor: 'P2' }],
    ['replaces it', { sensor: 'P1' }, 'P3', { sensor: 'P3' }],
    ['clears it', { sensor: 'P1', range: '1h' }, '', { range: '1h' }],
  ])('%s', (_, query, id, want) => {
    expect(withSensor(query, id)).toEqual(want)
  })
})

describe('ofSensor', () => {
  const list = [{ id: 1, sensor_id: 'P1' }, { id: 2, sensor_id: 'P2' }, { id: 3, sensor_id: 'P2' }]
  it.each([
    ['one sensor', 'P2', [2, 3]],
    ['a sensor without alerts', 'P3', []],
    ['no filter', '', [1, 2, 3]],
  ])('%s', (_, id, want) => {
    expect(ofSensor(list, id).map((a) => a.id)).toEqual(want)
  })
})
