import { describe, expect, it } from 'vitest'
import { common } from '../i18n/common'
import { LANGS, createI18n, isLang, type Messages } from './i18n'

const areaA: Messages = {
  pl: { hello: 'Cześć, {name}!', both: 'pl-a', only_pl: 'tylko po polsku', count: '{n} z {total}', twice: '{x}+{x}' },
  en: { hello: 'Hello, {name}!', both: 'en-a', count: '{n} of {total}', twice: '{x}+{x}' },
}
const areaB: Messages = {
  pl: { both: 'pl-b', b: 'be' },
  en: { both: 'en-b', b: 'bee' },
}

describe('plurals', () => {
  const i = createI18n([common])
  it.each([
    ['pl', 1, '+1 kolejny'],
    ['pl', 2, '+2 kolejne'],
    ['pl', 4, '+4 kolejne'],
    ['pl', 5, '+5 kolejnych'],
    ['pl', 12, '+12 kolejnych'],
    ['pl', 22, '+22 kolejne'],
    ['pl', 25, '+25 kolejnych'],
    ['en', 1, '+1 more'],
    ['en', 5, '+5 more'],
  ] as const)('%s %i: %s', (lang, n, want) => {
    i.lang.value = lang
    expect(i.t('banner.more', { n })).toBe(want)
  })

  it.each([
    [1, '1 do potwierdzenia'],
    [5, '5 do potwierdzenia'],
  ])('the header count, %i: words that need no plural form', (n, want) => {
    i.lang.value = 'pl'
    expect(i.t('alerts.count', { n })).toBe(want)
  })

  it('a key without plural forms takes n as any param', () => {
    i.lang.value = 'pl'
    expect(i.t('tile.age', { ago: '3 s', n: 3 })).toBe('3 s temu')
  })

  it('every plural key has an other form in both languages, and no bare form beside it', () => {
    for (const lang of LANGS) {
      const keys = Object.keys(common[lang])
      const plural = new Set(keys.filter((k) => /\.(one|few|many|other)$/.test(k)).map((k) => k.replace(/\.\w+$/, '')))
      for (const k of plural) {
        expect(keys, `${lang} ${k}.other`).toContain(k + '.other')
        expect(keys, `${lang} ${k} alone`).not.toContain(k)
      }
    }
  })
})

describe('createI18n', () => {
  it('starts in Polish by default, with the Polish locale', () => {
    const i = createI18n([areaA])
    expect(i.lang.value).toBe('pl')
    expect(i.locale.value).toBe('pl-PL')
    expect(i.t('hello', { name: 'Jan' })).toBe('Cześć, Jan!')
  })

  it('switches language and locale', () => {
    const i = createI18n([areaA])
    i.lang.value = 'en'
    expect(i.locale.value).toBe('en-GB')
    expect(i.t('hello', { name: 'Jan' })).toBe('Hello, Jan!')
    i.lang.value = 'pl'
    expect(i.t('hello', { name: 'Jan' })).toBe('Cześć, Jan!')
  })

  it('can start in English', () => {
    const i = createI18n([areaA], 'en')
    expect(i.t('both')).toBe('en-a')
  })

  it.each([
    ['several params', 'count', { n: 3, total: 7 }, 'en', '3 of 7'],
    ['a number param', 'count', { n: 0, total: 1 }, 'pl', '0 z 1'],
    ['the same param twice', 'twice', { x: 'a' }, 'en', 'a+a'],
    ['a missing param stays as the placeholder', 'hello', {}, 'en', 'Hello, {name}!'],
    ['an extra param is ignored', 'hello', { name: 'Ola', other: 1 }, 'pl', 'Cześć, Ola!'],
    ['no params: placeholders stay', 'hello', undefined, 'pl', 'Cześć, {name}!'],
    ['a param value with $ and braces is taken literally', 'hello', { name: '$& {name}' }, 'en', 'Hello, $& {name}!'],
  ] as const)('t(): %s', (_name, key, params, lang, want) => {
    const i = createI18n([areaA], lang)
    expect(i.t(key, params as Record<string, string | number> | undefined)).toBe(want)
  })

  it('falls back to Polish when English lacks the key', () => {
    const i = createI18n([areaA], 'en')
    expect(i.t('only_pl')).toBe('tylko po polsku')
  })

  it('falls back to the key when neither language has it', () => {
    const i = createI18n([areaA], 'en')
    expect(i.t('no.such.key')).toBe('no.such.key')
    expect(i.t('no.such.{x}', { x: 1 })).toBe('no.such.1')
  })

  it('joins areas; a later area wins for the same key', () => {
    const i = createI18n([areaA, areaB])
    expect(i.t('b')).toBe('be')
    expect(i.t('hello', { name: 'X' })).toBe('Cześć, X!')
    expect(i.t('both')).toBe('pl-b')
    i.lang.value = 'en'
    expect(i.t('both')).toBe('en-b')
  })

  it('does not change the areas it joins', () => {
    const before = JSON.stringify(areaA)
    createI18n([areaA, areaB])
    expect(JSON.stringify(areaA)).toBe(before)
  })

  it.each([
    ['pl', true],
    ['en', true],
    ['de', false],
    ['PL', false],
    ['', false],
    [null, false],
    [undefined, false],
    [1, false],
  ])('isLang(%j) is %s', (v, want) => {
    expect(isLang(v)).toBe(want)
  })

  it('LANGS lists Polish first', () => {
    expect(LANGS).toEqual(['pl', 'en'])
  })
})

describe('common words', () => {
  // A language's plural forms are its own (Polish has few and many, English has not): the
  // forms other than "other" are left out of the comparisons of keys.
  const own = (k: string) => !/\.(zero|one|two|few|many)$/.test(k)
  const pl = Object.keys(common.pl).filter(own)
  const en = Object.keys(common.en).filter(own)
  const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()

  it('has words', () => {
    expect(pl.length).toBeGreaterThan(50)
  })

  it('every Polish key is in English', () => {
    expect(pl.filter((k) => !(k in common.en))).toEqual([])
  })

  it('every English key is in Polish', () => {
    expect(en.filter((k) => !(k in common.pl))).toEqual([])
  })

  it('no empty strings', () => {
    for (const lang of LANGS) {
      const empty = Object.entries(common[lang]).filter(([, v]) => typeof v !== 'string' || v.trim() === '')
      expect(empty, lang).toEqual([])
    }
  })

  it('every {param} of a Polish string is in the English one, and the other way round', () => {
    const bad: string[] = []
    for (const k of pl) {
      const p = placeholders(common.pl[k])
      const e = placeholders(common.en[k] ?? '')
      for (const name of p) if (!e.includes(name)) bad.push(`${k}: {${name}} missing in en`)
      for (const name of e) if (!p.includes(name)) bad.push(`${k}: {${name}} missing in pl`)
    }
    expect(bad).toEqual([])
  })

  it('words the UI builds keys for exist', () => {
    const keys = [
      ...['OPERATOR', 'ADMIN', 'SUPERUSER', 'SERWISANT'].map((r) => 'role.' + r),
      ...['normal', 'warning', 'critical', 'fault', 'nodata'].map((s) => 'status.' + s),
      ...['idle', 'expired', 'signed_out'].map((e) => 'signin.ended.' + e),
      ...['WARNING', 'CRITICAL', 'SENSOR_FAULT', 'DEVICE_FAULT'].map((a) => 'atype.' + a),
      'alert.device.storage',
      ...['ACTIVE_UNACK', 'ACTIVE_ACK', 'CLEARED_UNACK', 'CLOSED'].map((s) => 'astate.' + s),
      ...LANGS.map((l) => 'lang.' + l),
    ]
    expect(keys.filter((k) => !(k in common.pl))).toEqual([])
  })

  it('the sign-in explanations fill their placeholders', () => {
    const i = createI18n([common])
    expect(i.t('signin.err.locked', { m: 4 })).toContain('4 min')
    expect(i.t('signin.err.limit', { s: 7 })).toContain('7 s')
    i.lang.value = 'en'
    expect(i.t('signin.err.locked', { m: 4 })).toBe('The account is locked after too many failed attempts. Try again in 4 min.')
  })
})
