import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import StateShape from './StateShape.vue'

describe('StateShape', () => {
  it.each([
    ['critical', 8, '!!'],
    ['warning', 3, '!'],
    ['fault', 4, '?'],
  ] as const)('%s: a shape of %i corners with %s', (kind, corners, glyph) => {
    const w = mount(StateShape, { props: { kind } })
    const root = w.find('[data-shape]')
    expect(root.attributes('data-shape')).toBe(kind)
    expect(root.classes()).toContain('s-' + kind)
    expect(w.find('polygon').attributes('points')!.trim().split(/\s+/)).toHaveLength(corners)
    expect(w.find('polygon').attributes('data-indicator')).toBeDefined()
    expect(w.find('text').text()).toBe(glyph)
    // 80 px: 12 mm on the LCD
    expect(root.attributes('style')).toContain('width: 80px')
    expect(root.attributes('style')).toContain('height: 80px')
  })

  it('the three kinds have three different outlines', () => {
    const points = (['critical', 'warning', 'fault'] as const).map((kind) => mount(StateShape, { props: { kind } }).find('polygon').attributes('points'))
    expect(new Set(points).size).toBe(3)
  })

  it('cleared: hollow, and says so to the audit', () => {
    const w = mount(StateShape, { props: { kind: 'critical', cleared: true } })
    expect(w.find('[data-shape]').classes()).toContain('cleared')
    expect(w.find('[data-shape]').attributes('data-cleared')).toBe('true')
  })

  it('only a moving shape moves', () => {
    expect(mount(StateShape, { props: { kind: 'warning' } }).find('[data-shape]').classes()).not.toContain('moving')
    expect(mount(StateShape, { props: { kind: 'warning', moving: true } }).find('[data-shape]').classes()).toContain('moving')
  })
})
