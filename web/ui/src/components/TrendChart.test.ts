// happy-dom has no canvas (getContext gives null), so uPlot itself cannot run here: a fake
// stands in for it and records what the component asks of it. What is tested is the
// component's own part: the attributes the end-to-end test reads, what it hands uPlot, the
// width it reports, the gestures it turns into pan and zoom, and the threshold lines it draws.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { mount, type VueWrapper } from '@vue/test-utils'
import type uPlot from 'uplot'
import TrendChart from './TrendChart.vue'
import type { PlotData, ThresholdLine } from '../lib/trend'

const fakes = vi.hoisted(() => [] as FakePlot[])

interface FakePlot {
  opts: uPlot.Options
  over: HTMLElement
  bbox: { left: number; top: number; width: number; height: number }
  data: uPlot.AlignedData
  scales: Record<string, { min: number; max: number }>
  redraws: number
}

vi.mock('uplot', () => {
  class Fake {
    static pxRatio = 2
    opts: uPlot.Options
    over = document.createElement('div')
    // The plot area: 500 CSS px wide at a pixel ratio of 2.
    bbox = { left: 40, top: 10, width: 1000, height: 300 }
    cursor = { idx: null as number | null }
    width: number
    height: number
    data: uPlot.AlignedData
    scales: Record<string, { min: number; max: number }> = {}
    redraws = 0
    constructor(opts: uPlot.Options, data: uPlot.AlignedData, target: HTMLElement) {
      this.opts = opts
      this.data = data
      this.width = opts.width
      this.height = opts.height
      this.over.getBoundingClientRect = () => ({ left: 100, top: 0, width: 500, height: 150, right: 600, bottom: 150, x: 100, y: 0, toJSON: () => ({}) })
      target.appendChild(this.over)
      fakes.push(this as unknown as FakePlot)
      for (const h of [opts.hooks?.setSize ?? []].flat()) h?.(this as unknown as uPlot)
    }
    batch(fn: () => void) { fn() }
    setData(d: uPlot.AlignedData) { this.data = d }
    setScale(k: string, v: { min: number; max: number }) { this.scales[k] = v }
    setSize() {}
    redraw() { this.redraws++ }
    destroy() {}
    // A value axis from 0 (bottom, y 310) to 10 (top, y 10).
    valToPos(v: number) { return 310 - v * 30 }
  }
  return { default: Fake }
})

const data: PlotData = {
  x: [1000, 1001, 1002], mean: [1, null, 3], min: [null, null, null], max: [null, null, null],
  drawn: 2, total: 3, downsampled: false, bucketSeconds: 0,
}
const lines: ThresholdLine[] = [
  { value: 1.5, kind: 'critical' }, { value: 2, kind: 'warning' }, { value: 8, kind: 'warning' }, { value: 9, kind: 'critical' },
]
const props = {
  sensor: 'P2', data, window: { start: 1_000_000, end: 1_060_000 }, y: [0, 10] as const, lines, unit: 'bar', locale: 'pl-PL', label: 'chart',
}

let wrapper: VueWrapper | null = null
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  fakes.length = 0
})

function chart(over: Partial<typeof props> = {}) {
  wrapper = mount(TrendChart, { props: { ...props, ...over }, attachTo: document.body })
  return { w: wrapper, plot: fakes[fakes.length - 1] }
}

function pointer(el: HTMLElement, type: string, id: number, clientX: number) {
  el.dispatchEvent(new PointerEvent(type, { pointerId: id, clientX, pointerType: 'touch', bubbles: true }))
}

describe('TrendChart', () => {
  it('carries the test ids the end-to-end test reads', async () => {
    const { w } = chart()
    const root = w.get('[data-testid="trend-chart"]')
    expect(root.attributes('data-sensor')).toBe('P2')
    expect(root.attributes('data-points')).toBe('2')
    await w.setProps({ data: null, sensor: 'P3' })
    expect(root.attributes('data-points')).toBe('0')
    expect(root.attributes('data-sensor')).toBe('P3')
  })

  it('hands uPlot the columns, the window in seconds and the value axis', async () => {
    const { w, plot } = chart()
    expect(plot.data).toEqual([data.x, data.mean, data.min, data.max])
    expect(plot.scales.x).toEqual({ min: 1000, max: 1060 })
    expect(plot.scales.y).toEqual({ min: 0, max: 10 })
    await w.setProps({ window: { start: 2_000_000, end: 2_030_000 }, y: [2, 4] })
    expect(plot.scales.x).toEqual({ min: 2000, max: 2030 })
    expect(plot.scales.y).toEqual({ min: 2, max: 4 })
  })

  it('reports the plot area width in CSS pixels', () => {
    const { w } = chart()
    expect(w.emitted('width')).toEqual([[500]])
  })

  it('turns a one-finger drag into a pan, as a fraction of the width', () => {
    const { w, plot } = chart()
    pointer(plot.over, 'pointerdown', 1, 300)
    pointer(plot.over, 'pointermove', 1, 350)
    pointer(plot.over, 'pointermove', 1, 400)
    pointer(plot.over, 'pointerup', 1, 400)
    pointer(plot.over, 'pointermove', 1, 500) // after the finger is lifted: nothing
    expect(w.emitted('pan')).toEqual([[-0.1], [-0.1]])
  })

  it('turns a pinch into a zoom about the fingers', () => {
    const { w, plot } = chart()
    pointer(plot.over, 'pointerdown', 1, 200)
    pointer(plot.over, 'pointerdown', 2, 300)
    pointer(plot.over, 'pointermove', 2, 400) // spread from 100 to 200 px: twice as near
    const zoom = w.emitted('zoom') as [number, number][]
    expect(zoom).toHaveLength(1)
    expect(zoom[0][0]).toBeCloseTo(0.5)
    expect(zoom[0][1]).toBeCloseTo((300 - 100) / 500) // the middle of the fingers, over the plot
    expect(w.emitted('pan')).toBeUndefined()
  })

  it('draws the threshold lines in the warning and critical colours', () => {
    const { plot } = chart()
    const strokes: [string, number][] = []
    let style = ''
    const ctx = {
      save() {}, restore() {}, beginPath() {}, setLineDash() {}, lineTo() {},
      set strokeStyle(v: string) { style = v },
      get strokeStyle() { return style },
      lineWidth: 0,
      moveTo(_x: number, y: number) { strokes.push([style, y]) },
      stroke() {},
    }
    const u = Object.assign(Object.create(plot as object), { ctx }) as uPlot
    for (const h of [plot.opts.hooks?.drawAxes ?? []].flat()) h?.(u)
    const warning = '#f5b041'
    const critical = '#ff4d4d'
    expect(strokes).toEqual([
      [critical, 310 - 1.5 * 30],
      [warning, 310 - 2 * 30],
      [warning, 310 - 8 * 30],
      [critical, 310 - 9 * 30],
    ])
  })

  it('redraws the axes when the words change', async () => {
    const { w, plot } = chart()
    const before = plot.redraws
    await w.setProps({ locale: 'en-GB' })
    expect(plot.redraws).toBe(before + 1)
  })

  it('labels the value axis with the unit and times in 24 hours', () => {
    const { plot } = chart({ window: { start: 0, end: 3_600_000 } })
    const [xAxis, yAxis] = plot.opts.axes!
    expect((yAxis.label as () => string)()).toBe('bar')
    const values = xAxis.values as (u: unknown, splits: number[]) => string[]
    const [label] = values(plot, [Date.UTC(2026, 0, 1, 23, 30) / 1000])
    expect(label).toMatch(/^\d\d:\d\d$/)
    expect(Number(label.slice(0, 2))).toBeLessThan(24)
  })
})
