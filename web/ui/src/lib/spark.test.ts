import { describe, expect, it } from 'vitest'
import { sparkPath } from './spark'

type P = [number, number | null]

describe('sparkPath', () => {
  const range = [0, 10] as const
  // a 100 x 10 box over t 0..1000 makes x = t / 10 and y = 10 - v
  const draw = (points: P[], r: readonly [number, number] = range, t0 = 0, t1 = 1000) => sparkPath(points, r, t0, t1, 100, 10)

  it('draws one line through the points', () => {
    expect(draw([[0, 0], [500, 5], [1000, 10]])).toBe('M0.0 10.0L50.0 5.0L100.0 0.0')
  })

  it('skips points outside the window', () => {
    expect(draw([[-1, 3], [100, 2], [900, 8], [1001, 3]])).toBe('M10.0 8.0L90.0 2.0')
  })

  it('a window that does not start at 0', () => {
    expect(sparkPath([[1500, 5]], range, 1000, 2000, 100, 10)).toBe('M50.0 5.0')
  })

  it('a null breaks the line: a new M after it', () => {
    expect(draw([[0, 1], [100, 2], [200, null], [300, 3], [400, 4]])).toBe('M0.0 9.0L10.0 8.0M30.0 7.0L40.0 6.0')
  })

  it('several nulls in a row and a null first', () => {
    expect(draw([[0, null], [100, 2], [200, null], [300, null], [400, 4]])).toBe('M10.0 8.0M40.0 6.0')
  })

  it('NaN breaks the line like null', () => {
    expect(draw([[0, 1], [100, NaN], [200, 3]])).toBe('M0.0 9.0M20.0 7.0')
  })

  it('a point skipped for being outside the window does not break the line', () => {
    expect(draw([[100, 1], [2000, 5], [200, 2]])).toBe('M10.0 9.0L20.0 8.0')
  })

  it('values outside the range are clamped to its edges', () => {
    expect(draw([[0, -5], [500, 15]])).toBe('M0.0 10.0L50.0 0.0')
  })

  it('an offset range', () => {
    expect(draw([[0, 150]], [100, 200])).toBe('M0.0 5.0')
  })

  it.each([
    ['empty range', [5, 5], 0, 1000],
    ['reversed range', [10, 0], 0, 1000],
    ['NaN range', [NaN, 10], 0, 1000],
    ['empty window', [0, 10], 1000, 1000],
    ['reversed window', [0, 10], 1000, 0],
  ] as const)('%s: empty path', (_name, r, t0, t1) => {
    expect(sparkPath([[500, 5]], [r[0], r[1]], t0, t1, 100, 10)).toBe('')
  })

  it('no points: empty path', () => {
    expect(draw([])).toBe('')
  })
})

describe('sparkPath gaps in time', () => {
  it.each([
    ['points a second apart make one line', [0, 1000, 2000], 3000, 1],
    ['a gap longer than maxGap starts a new line', [0, 1000, 10_000, 11_000], 3000, 2],
    ['without maxGap nothing breaks', [0, 1000, 10_000, 11_000], undefined, 1],
  ] as const)('%s', (_name, times, maxGap, lines) => {
    const d = sparkPath(times.map((t) => [t, 5] as [number, number]), [0, 10], 0, 12_000, 120, 10, maxGap)
    expect(d.split('M').length - 1).toBe(lines)
  })
})
