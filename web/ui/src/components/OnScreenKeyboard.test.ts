import { describe, expect, it } from 'vitest'
import { defineComponent, h, ref } from 'vue'
import { mount } from '@vue/test-utils'
import OnScreenKeyboard from './OnScreenKeyboard.vue'
import { I18N, createI18n } from '../lib/i18n'
import { common } from '../i18n/common'

function setup(initial = '') {
  const i18n = createI18n([common])
  const w = mount(OnScreenKeyboard, {
    props: {
      modelValue: initial,
      'onUpdate:modelValue': (v: string) => w.setProps({ modelValue: v }),
    },
    global: { provide: { [I18N as symbol]: i18n } },
  })
  const tap = async (...keys: string[]) => {
    for (const k of keys) {
      const b = w.find(`[data-key="${k}"]`)
      if (!b.exists()) throw new Error(`no key ${k}`)
      await b.trigger('click')
    }
  }
  const value = () => w.props('modelValue') as string
  return { w, tap, value, i18n }
}

describe('OnScreenKeyboard', () => {
  it.each([
    [['q', 'w', 'e'], 'qwe'],
    // the digits are on the 123 layer: three rows a layer keep the keys 67 px on 400 px
    [['symbols', '1', '2', '0'], '120'],
    [['a', '@', 'b', '.', 'p', 'l'], 'a@b.pl'],
    [['j', 'a', 'n', 'space', 'k'], 'jan k'],
  ])('tapping %j types %j', async (keys, want) => {
    const { tap, value } = setup()
    await tap(...keys)
    expect(value()).toBe(want)
  })

  it('appends to what the field holds', async () => {
    const { tap, value } = setup('adm')
    await tap('i', 'n')
    expect(value()).toBe('admin')
  })

  it('shift uppercases the next letter only', async () => {
    const { w, tap, value } = setup()
    await tap('shift')
    expect(w.find('[data-key="shift"]').attributes('aria-pressed')).toBe('true')
    expect(w.find('[data-key="q"]').text()).toBe('Q')
    await tap('q', 'w')
    expect(value()).toBe('Qw')
    expect(w.find('[data-key="shift"]').attributes('aria-pressed')).toBe('false')
    expect(w.find('[data-key="q"]').text()).toBe('q')
  })

  it('shift pressed twice is off again', async () => {
    const { tap, value } = setup()
    await tap('shift', 'shift', 'a')
    expect(value()).toBe('a')
  })

  it('the symbol layer holds the Polish letters, and shift uppercases them', async () => {
    const { w, tap, value } = setup()
    expect(w.find('[data-key="symbols"]').text()).toBe('123')
    expect(w.find('[data-key="ą"]').exists()).toBe(false)
    await tap('symbols')
    expect(w.find('[data-key="symbols"]').text()).toBe('ABC')
    expect(w.find('[data-key="q"]').exists()).toBe(false)
    await tap('ą', 'shift', 'ą', 'shift', 'ż', 'ł', '!', '#')
    expect(value()).toBe('ąĄŻł!#')
    await tap('symbols')
    expect(w.find('[data-key="q"]').exists()).toBe(true)
  })

  it('the #+= layer holds the remaining signs, and 123 leads back', async () => {
    const { w, tap, value } = setup()
    expect(w.find('[data-key="more"]').exists()).toBe(false)
    await tap('symbols', 'more', '$', '{', "'", '|')
    expect(value()).toBe("${'|")
    expect(w.find('[data-key="1"]').exists()).toBe(false)
    await tap('more', '1')
    expect(value()).toBe("${'|1")
  })

  it('every sign of the old four-row keyboard is still on a layer', async () => {
    const { w, tap } = setup()
    const keys = new Set<string>()
    const collect = () => w.findAll('[data-key]').forEach((b) => keys.add(b.attributes('data-key')!))
    collect()
    await tap('symbols')
    collect()
    await tap('more')
    collect()
    const missing = [...'1234567890qwertyuiopasdfghjklzxcvbnm!@#$%^&*()ąćęłńóśźż-_=+,:;/?\'"<>[]{}~|.'].filter((c) => !keys.has(c))
    expect(missing).toEqual([])
  })

  it('no row of any layer holds more than ten keys (67 px keys beside the sign-in fields)', async () => {
    const { w, tap } = setup()
    const widest = () => Math.max(...w.findAll('.row').map((r) => r.findAll('button').length))
    const seen = [widest()]
    await tap('symbols')
    seen.push(widest())
    await tap('more')
    seen.push(widest())
    expect(Math.max(...seen)).toBeLessThanOrEqual(10)
  })

  it('the enter key takes the label it is given', () => {
    const w = mount(OnScreenKeyboard, {
      props: { modelValue: '', enterLabel: 'Gotowe' },
      global: { provide: { [I18N as symbol]: createI18n([common]) } },
    })
    expect(w.find('[data-key="enter"]').text()).toBe('Gotowe')
  })

  it.each([...'ąćęłńóśźż'].map((c) => [c, c.toLocaleUpperCase('pl')]))('shift + %s → %s', async (c, upper) => {
    const { tap, value } = setup()
    await tap('symbols', 'shift', c)
    expect(value()).toBe(upper)
    expect(upper).not.toBe(c)
  })

  it.each([
    ['abc', 'ab'],
    ['a', ''],
    ['', ''],
    ['zażółć', 'zażół'],
    ['ab😀', 'ab'], // one character of two UTF-16 units
    ['😀😀', '😀'],
  ])('backspace on %j leaves %j', async (initial, want) => {
    const { tap, value } = setup(initial)
    await tap('backspace')
    expect(value()).toBe(want)
  })

  it('enter emits enter and does not type', async () => {
    const { w, tap, value } = setup('x')
    await tap('enter')
    expect(w.emitted('enter')).toHaveLength(1)
    expect(value()).toBe('x')
  })

  it('labels its keys in the chosen language', async () => {
    const { w, i18n } = setup()
    expect(w.find('[data-key="space"]').text()).toBe('spacja')
    expect(w.find('[data-key="backspace"]').attributes('aria-label')).toBe('Usuń')
    i18n.lang.value = 'en'
    await w.vm.$nextTick()
    expect(w.find('[data-key="space"]').text()).toBe('space')
    expect(w.find('[data-key="backspace"]').attributes('aria-label')).toBe('Delete')
  })

  it('a press keeps the focus in the field (mousedown is prevented)', () => {
    const { w } = setup()
    const ev = new MouseEvent('mousedown', { bubbles: true, cancelable: true })
    w.find('[data-key="a"]').element.dispatchEvent(ev)
    expect(ev.defaultPrevented).toBe(true)
  })

  // The keyboard is used inside the sign-in <form>: a key without type="button" would be a
  // submit button, and Shift in the middle of a password would send the half-typed password.
  it('no key submits a surrounding form', async () => {
    const i18n = createI18n([common])
    let submits = 0
    const Host = defineComponent({
      setup() {
        const v = ref('')
        return () =>
          h('form', { onSubmit: (e: Event) => { e.preventDefault(); submits++ } }, [
            h(OnScreenKeyboard, { modelValue: v.value, 'onUpdate:modelValue': (x: string) => (v.value = x) }),
          ])
      },
    })
    const w = mount(Host, { global: { provide: { [I18N as symbol]: i18n } }, attachTo: document.body })
    for (const k of ['a', 'shift', 'backspace', 'symbols', '@', 'space', '.', 'enter']) {
      const el = w.find(`[data-key="${k}"]`).element as HTMLButtonElement
      el.click()
    }
    await w.vm.$nextTick()
    w.unmount()
    expect(submits).toBe(0)
  })
})
