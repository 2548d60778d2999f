// The e2e checks of language, staleness and the audible alarm, called from run.mjs:
//   - checkScreen: on every screen visited, in both languages, no text overflows its box (wider
//     than its box, cut by overflow hidden or an ellipsis, clamped lines, a page wider than the
//     viewport); a screenshot per language (<name>.pl.png, <name>.en.png).
//   - hungDaemon: SIGSTOP the daemon: the tiles say their readings' age and the connection is
//     lost within 3 s; SIGCONT: the page recovers by itself.
//   - the alarm: with chromium's --autoplay-policy=no-user-gesture-required the tone starts with
//     the critical excursion and stops on silence or acknowledge (<html data-alarm-sounding>).
//
// init(h) hands over run.mjs's helpers (Failure, shot, until, visible, hidden, sel, sleep, tap).

let h = null

/** init takes run.mjs's helpers; call it once before the checks. */
export function init(helpers) {
  h = helpers
}

/** AUTOPLAY is the chromium flag that lets the page's AudioContext play without a gesture,
 *  as the kiosk's browser must. */
export const AUTOPLAY = '--autoplay-policy=no-user-gesture-required'

const LANGS = ['pl', 'en']

/** setLang switches the running UI's language (the i18n the app provides, found through the
 *  Vue app on #app) and returns the one before; the page re-renders on the next frame. */
async function setLang(page, lang) {
  const before = await page.evaluate((l) => {
    const app = document.querySelector('#app')?.__vue_app__
    const provides = app?._context?.provides ?? {}
    const key = Object.getOwnPropertySymbols(provides).find((s) => s.description === 'i18n')
    const i18n = key && provides[key]
    if (!i18n) return null
    const was = i18n.lang.value
    i18n.lang.value = l
    return was
  }, lang)
  if (before === null) throw new h.Failure('the UI exposes no i18n on #app (the language cannot be switched for the checks)')
  // two frames: Vue patches on a microtask, layout follows
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))))
  return before
}

/** overflowing lists the texts on the page that do not fit their boxes, in words. */
async function overflowing(page) {
  return page.evaluate(() => {
    const out = []
    const root = document.documentElement
    if (root.scrollWidth > root.clientWidth + 1) out.push(`the page is ${root.scrollWidth} px wide in a ${root.clientWidth} px viewport`)
    const name = (el) => {
      const id = el.closest('[data-testid]')?.getAttribute('data-testid')
      const cls = typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\s+/).join('.') : ''
      return `${el.tagName.toLowerCase()}${cls}${id ? ` in [data-testid=${id}]` : ''} "${(el.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 50)}"`
    }
    // The box a text is laid out in: its nearest ancestor that is not inline.
    const boxOf = (el) => {
      let e = el
      while (e && getComputedStyle(e).display === 'inline') e = e.parentElement
      return e
    }
    const seen = new Set()
    for (const el of document.body.querySelectorAll('*')) {
      if (el.closest('svg, canvas, select, textarea, .sr-only')) continue
      if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue
      if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue
      const box = boxOf(el)
      if (!box || seen.has(box)) continue
      seen.add(box)
      const cs = getComputedStyle(box)
      if (box.scrollWidth > box.clientWidth + 1) {
        out.push(`${name(box)}: ${box.scrollWidth} px of content in ${box.clientWidth} px`)
        continue
      }
      if (/hidden|clip/.test(cs.overflowY) && box.scrollHeight > box.clientHeight + 1) {
        out.push(`${name(box)}: cut, ${box.scrollHeight} px of lines in ${box.clientHeight} px`)
        continue
      }
      // A text that spills out of a box that lets it (overflow visible) shows past the box's
      // edge: its own rectangle says so.
      const r = document.createRange()
      r.selectNodeContents(el)
      const t = r.getBoundingClientRect()
      const b = box.getBoundingClientRect()
      if (t.width > 0 && (t.right > root.clientWidth + 1 || t.left < -1)) {
        out.push(`${name(el)}: off the screen (${Math.round(t.left)}–${Math.round(t.right)} of ${root.clientWidth} px)`)
      } else if (t.width > 0 && (t.right > b.right + 1 || t.left < b.left - 1)) {
        out.push(`${name(el)}: the text (${Math.round(t.left)}–${Math.round(t.right)}) spills out of its box (${Math.round(b.left)}–${Math.round(b.right)})`)
      }
    }
    return out
  })
}

/** WORD_SLOTS are places that show one of a set of words, of which the screen shows only one:
 *  each word of the set is tried in the place (in a copy of it laid over it), so a word the
 *  flow never shows (OSTRZEŻENIE, when the excursion is critical) is held to its box too. */
const WORD_SLOTS = [
  { selector: '[data-testid=alert-row] .type', words: ['WARNING', 'CRITICAL', 'SENSOR_FAULT', 'DEVICE_FAULT'].map((k) => ['atype.' + k]) },
  // The header's count gives way when the row is full (its margin takes the free room): each
  // plural form must fit in its box and that room.
  {
    selector: '[data-testid=alert-count]',
    flex: true,
    words: [['alerts.none_unacked'], ...[1, 2, 5, 12, 22].map((n) => ['alerts.count', { n }])],
  },
]

/** slotsOverflowing tries every word of WORD_SLOTS in its place on the screen. */
async function slotsOverflowing(page) {
  return page.evaluate((slots) => {
    const app = document.querySelector('#app')?.__vue_app__
    const provides = app?._context?.provides ?? {}
    const i18n = provides[Object.getOwnPropertySymbols(provides).find((s) => s.description === 'i18n')]
    const out = []
    for (const { selector, flex, words } of slots) {
      const el = document.querySelector(selector)
      if (!el || !el.getClientRects().length) continue
      if (flex) {
        // the room: its box and the free space before it (an auto margin's)
        const r = el.getBoundingClientRect()
        const prev = el.previousElementSibling?.getBoundingClientRect()
        const gap = parseFloat(getComputedStyle(el.parentElement).columnGap) || 0
        const room = r.width + (prev ? Math.max(0, r.left - prev.right - gap) : 0)
        // its own text, measured in its font, swapped for each word
        const ctx = document.createElement('canvas').getContext('2d')
        ctx.font = getComputedStyle(el).font
        const own = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim()
        if (!/\p{L}/u.test(own)) continue // the phone shows the number only; the words are its label
        const rest = el.scrollWidth - ctx.measureText(own).width
        // words that may wrap take at most two lines, and their longest word must fit
        const wraps = getComputedStyle(el).whiteSpace === 'normal'
        for (const [key, params] of words) {
          const text = i18n.t(key, params)
          const line = ctx.measureText(text).width
          const longest = Math.max(...text.split(/\s+/).map((w) => ctx.measureText(w).width))
          const need = wraps ? Math.max(rest + longest, rest + line / 2) : rest + line
          if (need > room + 1) out.push(`${selector} "${text}": ${Math.round(need)} px in ${Math.round(room)} px of room${wraps ? ' (on two lines)' : ''}`)
        }
        continue
      }
      for (const [key, params] of words) {
        const copy = el.cloneNode(false)
        copy.textContent = i18n.t(key, params)
        // laid over the original, in the same grid cell or flex slot
        const cs = getComputedStyle(el)
        copy.style.gridRow = cs.gridRowStart + ' / ' + cs.gridRowEnd
        copy.style.gridColumn = cs.gridColumnStart + ' / ' + cs.gridColumnEnd
        copy.style.width = el.getBoundingClientRect().width + 'px'
        el.parentElement.insertBefore(copy, el.nextSibling)
        if (copy.scrollWidth > copy.clientWidth + 1) out.push(`${selector} "${copy.textContent}": ${copy.scrollWidth} px of text in ${copy.clientWidth} px`)
        copy.remove()
      }
    }
    return out
  }, WORD_SLOTS)
}

/** checkScreen checks the screen now shown in both languages, with a screenshot of each, and
 *  leaves the language as it was. */
export async function checkScreen(page, vp, name) {
  const bad = []
  const first = await setLang(page, LANGS[0])
  try {
    for (const lang of LANGS) {
      await setLang(page, lang)
      for (const o of await overflowing(page)) bad.push(`${lang}: ${o}`)
      for (const o of await slotsOverflowing(page)) bad.push(`${lang}: ${o}`)
      await h.shot(page, vp, `${name}.${lang}`)
    }
  } finally {
    await setLang(page, first)
  }
  if (bad.length) throw new h.Failure(`text does not fit on the ${name} screen at ${vp.size}:\n  ${bad.join('\n  ')}`)
}

/** hungDaemon stops the daemon's process without ending it (SIGSTOP): within 3 s each tile
 *  says how old its reading is and the connection-lost overlay shows; after SIGCONT the page
 *  comes back by itself. */
export async function hungDaemon(page, vp, d, watch) {
  const proc = d.proc
  if (!proc) throw new h.Failure('no daemon running to hang')
  await h.visible(page, 'home', 5000, 'the home screen before the hang')
  watch.outage = true
  const t = Date.now()
  proc.kill('SIGSTOP')
  let ageMs, lostMs, ages
  try {
    ages = await h.until('every tile to show its reading’s age ([data-testid=age])', async () => {
      const texts = await page.locator(`${h.sel('home')} ${h.sel('age')}`).allTextContents()
      return texts.length === 3 ? texts : null
    }, 6000, 50)
    ageMs = Date.now() - t
    await h.visible(page, 'connection-lost', 6000, 'the connection-lost overlay after SIGSTOP')
    lostMs = Date.now() - t
    await h.shot(page, vp, 'hung')
  } finally {
    proc.kill('SIGCONT')
  }
  const bad = ages.filter((s) => !/^\d+ s (temu|ago)$/.test(s.trim()))
  if (bad.length) throw new h.Failure(`a tile's age reads ${JSON.stringify(bad)}, not "N s temu" / "N s ago"`)
  if (ageMs > 3000) throw new h.Failure(`the tiles showed their readings' age ${ageMs} ms after the daemon hung (at most 3000)`)
  if (lostMs > 3500) throw new h.Failure(`the connection showed lost ${lostMs} ms after the daemon hung (at most 3500: 3 s after its last frame)`)
  const back = Date.now()
  await h.hidden(page, 'connection-lost', 20_000, 'the connection-lost overlay after SIGCONT')
  await h.until('the tiles to drop their age after SIGCONT', async () => (await page.locator(`${h.sel('home')} ${h.sel('age')}`).count()) === 0, 5000)
  watch.outage = false
  return `ages ${JSON.stringify(ages)} after ${ageMs} ms, connection lost after ${lostMs} ms; back ${Date.now() - back} ms after SIGCONT`
}

async function sounding(page) {
  return page.evaluate(() => document.documentElement.dataset.alarmSounding === 'true')
}

/** soundSetting sets the audible alarm on the sign-in screen (on a phone it is off by
 *  default). */
export async function soundSetting(page, on) {
  await h.visible(page, 'alarm-sound', 10_000, 'the alarm sound setting [data-testid=alarm-sound] on the sign-in screen')
  const b = page.locator(h.sel('alarm-sound')).first()
  if ((await b.getAttribute('data-enabled')) !== String(on)) await b.tap({ timeout: 5000 })
  await h.until(`the alarm sound setting to read ${on}`, async () => (await b.getAttribute('data-enabled')) === String(on), 2000)
}

/** alarmSounds checks the tone plays with the critical banner (and its silence button says so). */
export async function alarmSounds(page) {
  await h.until('the alarm tone to sound with the critical banner (<html data-alarm-sounding="true">)', () => sounding(page), 3000)
  await h.visible(page, 'alarm-silence', 2000, 'the silence button [data-testid=alarm-silence] in the banner')
  const b = page.locator(h.sel('alarm-silence')).first()
  const box = await b.boundingBox()
  if (!box || box.width < 100) throw new h.Failure(`the silence button is ${box ? Math.round(box.width) : 0} px wide (at least 100)`)
  if ((await b.getAttribute('data-sounding')) !== 'true') throw new h.Failure('the silence button says data-sounding != "true" while the tone plays')
  return `tone sounding; silence button ${Math.round(box.width)}x${Math.round(box.height)} px`
}

/** silence taps the silence button: the tone stops, the button says it is silenced. */
export async function silence(page) {
  await h.tap(page, 'alarm-silence', 5000)
  await h.until('the tone to stop after "Wycisz"', async () => !(await sounding(page)), 2000)
  const b = page.locator(h.sel('alarm-silence')).first()
  if ((await b.getAttribute('data-sounding')) !== 'false') throw new h.Failure('the silence button still says data-sounding="true" after silencing')
  return 'silenced'
}

/** alarmStopped checks no tone plays (after the acknowledgement). */
export async function alarmStopped(page) {
  await h.until('the tone to stop after the acknowledgement', async () => !(await sounding(page)), 3000)
  return 'tone stopped'
}
