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
  /** t looks a key up and fills {name} placeholders; an unknown key shows as itself */
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
  return {
    lang,
    locale: computed(() => (lang.value === 'pl' ? 'pl-PL' : 'en-GB')),
    t(key, params) {
      const s = dict[lang.value][key] ?? dict.pl[key] ?? key
      if (!params) return s
      return s.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m))
    },
  }
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
