// Polish and English. Polish comes first: the operators are Polish. Each area of the UI keeps
// its words in its own module under src/i18n; this joins them and looks words up.
import { computed, ref, type Ref, type InjectionKey, inject } from 'vue'

export type Lang = 'pl' | 'en'
export const LANGS: readonly Lang[] = ['pl', 'en']

/** Messages are one area's words: the same keys in both languages. */
export interface Messages {
  pl: Record<string, string>
  en: Record<string, string>
}

export interface I18n {
  lang: Ref<Lang>
  /** t looks a key up and fills {name} placeholders; an unknown key shows as itself. With a
   *  number n among the params, the key's plural form for n (key.one, key.few, key.many,
   *  key.other, by the language's Intl.PluralRules) is taken where the area has one. */
  t(key: string, params?: Record<string, string | number>): string
  /** locale is the BCP 47 tag for dates and numbers */
  locale: Ref<string>
}

export function createI18n(areas: Messages[], initial: Lang = 'pl'): I18n {
  const dict: Messages = { pl: {}, en: {} }
  for (const a of areas) {
    Object.assign(dict.pl, a.pl)
    Object.assign(dict.en, a.en)
  }
  const lang = ref<Lang>(initial)
  const rules: Record<Lang, Intl.PluralRules> = { pl: new Intl.PluralRules('pl-PL'), en: new Intl.PluralRules('en-GB') }
  return {
    lang,
    locale: computed(() => (lang.value === 'pl' ? 'pl-PL' : 'en-GB')),
    t(key, params) {
      const s = (typeof params?.n === 'number' ? pluralForm(dict, lang.value, rules[lang.value], key, params.n) : undefined) ??
        dict[lang.value][key] ?? dict.pl[key] ?? key
      if (!params) return s
      return s.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m))
    },
  }
}

/** pluralForm is key's form for the count n in lang (Polish: one 1, few 2-4 and 22-24, many
 *  5-21 and 25-31…, other fractions), falling back to key.other; undefined when the key has no
 *  plural forms at all. */
function pluralForm(dict: Messages, lang: Lang, rules: Intl.PluralRules, key: string, n: number): string | undefined {
  const words = dict[lang]
  if (words[key + '.other'] === undefined) return undefined
  return words[`${key}.${rules.select(n)}`] ?? words[key + '.other']
}

export const I18N: InjectionKey<I18n> = Symbol('i18n')

/** useI18n gives a component the app's I18n. */
export function useI18n(): I18n {
  const i = inject(I18N)
  if (!i) throw new Error('useI18n: no I18n provided')
  return i
}

/** isLang tells a stored string that names a language. */
export function isLang(v: unknown): v is Lang {
  return v === 'pl' || v === 'en'
}
