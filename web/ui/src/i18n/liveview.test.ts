import { describe, expect, it } from 'vitest'
import { liveview } from './liveview'

describe('the live view words', () => {
  it('has every key in both languages, none empty', () => {
    expect(Object.keys(liveview.pl).sort()).toEqual(Object.keys(liveview.en).sort())
    for (const lang of ['pl', 'en'] as const) {
      expect(Object.values(liveview[lang]).filter((v) => !v.trim())).toEqual([])
    }
  })
})
