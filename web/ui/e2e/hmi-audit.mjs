// The HMI audit: measures a screen in the browser against the touch, contrast and size rules
// of the operator UI (README "The operator UI", the touch system) and reports every
// violation. run.mjs calls it on every screen it shows, so a screen added later is held to
// the same rules without a line of test of its own.
//
// What it measures, in the page (getBoundingClientRect, getComputedStyle, canvas):
//   touch     every interactive element (button, a[href], input, select, textarea,
//             [role=button], [tabindex]>=0, [data-touch]) is at least rules.touchMin px in
//             both directions; a primary action ([data-primary]) at least rules.primaryMin
//   gap       at least rules.gap px between any two interactive elements (one inside the
//             other does not count)
//   text      every visible text node (and the text of form fields) at least 4.5:1 against
//             its effective background (the first opaque background up the tree, with the
//             translucent ones on the way blended in, and the opacity of the ancestors)
//   indicator every [data-indicator] (bands, shapes, lines) at least 3:1 against its background
//   ink       every [data-ink] (a sensor's value) has digits at least rules.inkMin px tall
//             (canvas measureText of the computed font: actualBoundingBoxAscent + Descent)
//   shape     every [data-shape] (the state shapes) at least rules.shapeMin px in both directions
//   clipped   no target is cut by an ancestor that clips it: sideways by any overflow but
//             visible, up and down by hidden or clip (a list that scrolls is not cut)
//   off-screen no target reaches past the viewport's bottom or right edge unless a scroll
//             brings it in: an ancestor that scrolls, or the page itself where it may scroll
//             (rules.pageScroll: the phone's long forms; never the LCD, a kiosk, nor a fixed
//             element). A primary button half below the 400 px panel is not one touch away.
// Elements under a modal (a dialog or an overlay drawn over them) are not on the screen and
// are skipped; so are elements of zero size and hidden ones.

/** PX_PER_MM_LCD: the 7.9" 1280x400 panel is about 170 ppi, 6.7 CSS px per mm. */
export const PX_PER_MM_LCD = 6.7

/** RULES per viewport. The LCD's come from the issue (gloves, 2 m). The phone's: 9 mm at
 *  160 CSS px per inch (Android's dp baseline, 6.3 px/mm; an iPhone's 153-163 pt per inch is
 *  as dense or less) is 57 CSS px. The common 48 px is 7.6 mm there: too small for 9 mm. Its
 *  gap is 8 px (1.3 mm): a phone is held close and touched with a bare finger. Ink and shapes
 *  are for reading the LCD from 2 m; a phone in the hand has no such rule. */
export const RULES = {
  lcd: { name: 'LCD 1280x400', touchMin: 67, primaryMin: 100, gap: 13, text: 4.5, indicator: 3, inkMin: 78, shapeMin: 80, pageScroll: false },
  phone: { name: 'phone 390x844', touchMin: 57, primaryMin: 57, gap: 8, text: 4.5, indicator: 3, inkMin: 0, shapeMin: 0, pageScroll: true },
}

/** measure runs in the page (it is passed to page.evaluate, so it must use nothing from this
 *  module) and returns the violations and what it counted. */
function measure(rules) {
  const out = []
  const counts = { interactive: 0, text: 0, indicators: 0, values: 0, shapes: 0 }
  // the smallest of each figure on the screen, for the record (hmi-audit.json)
  const least = { target: Infinity, primary: Infinity, gap: Infinity, text: Infinity, indicator: Infinity, ink: Infinity, shape: Infinity }
  const note = (k, v) => (least[k] = Math.min(least[k], v))
  const INTERACTIVE = 'button, a[href], input:not([type=hidden]), select, textarea, [role=button], [tabindex], [data-touch]'

  const describe = (el) => {
    let s = el.tagName.toLowerCase()
    const id = el.getAttribute('data-testid')
    if (id) s += `[data-testid=${id}]`
    else if (el.getAttribute('data-key')) s += `[data-key=${el.getAttribute('data-key')}]`
    else if (el.classList.length) s += '.' + [...el.classList].slice(0, 2).join('.')
    const txt = (el.textContent || el.getAttribute('aria-label') || '').replace(/\s+/g, ' ').trim().slice(0, 30)
    if (txt) s += ` "${txt}"`
    let p = el.parentElement
    while (p && !p.getAttribute('data-testid')) p = p.parentElement
    if (p && p !== el) s += ` in [data-testid=${p.getAttribute('data-testid')}]`
    return s
  }
  const fail = (el, rule, measured, required) => out.push({ element: describe(el), rule, measured, required })
  const round = (n) => Math.round(n * 10) / 10

  const hiddenByStyle = (el) => {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const cs = getComputedStyle(e)
      if (cs.display === 'none' || cs.visibility === 'hidden' || cs.opacity === '0') return true
      if (e.hasAttribute('inert')) return true
    }
    return false
  }
  // An element is under a modal when the topmost element at its centre belongs to a dialog or
  // overlay that does not hold it. An element outside the viewport (a scrolled list) counts
  // as on the screen: it is one scroll away.
  const MODAL = '[role=dialog], [role=alertdialog], [aria-modal=true], [data-overlay]'
  const covered = (el, r) => {
    const x = r.left + r.width / 2
    const y = r.top + r.height / 2
    if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) return false
    const hit = document.elementFromPoint(x, y)
    if (!hit || hit === el || el.contains(hit) || hit.contains(el)) return false
    const modal = hit.closest(MODAL)
    return !!modal && !modal.contains(el)
  }
  const shown = (el) => {
    const r = el.getBoundingClientRect()
    if (r.width <= 0 || r.height <= 0) return null
    if (hiddenByStyle(el) || covered(el, r)) return null
    return r
  }

  // Colours: rgb()/rgba() and the color() syntax of computed styles, as [r, g, b, a] 0..1.
  const parse = (c) => {
    if (!c || c === 'transparent' || c === 'none') return null
    let m = c.match(/rgba?\(([^)]+)\)/)
    if (m) {
      const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number)
      return [p[0] / 255, p[1] / 255, p[2] / 255, p.length > 3 ? p[3] : 1]
    }
    m = c.match(/color\(srgb ([^)]+)\)/)
    if (m) {
      const p = m[1].split(/[\s/]+/).filter(Boolean).map(Number)
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]
    }
    return null
  }
  const over = (top, bottom) => {
    const a = top[3]
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat(1)
  }
  const lin = (v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
  const lum = (c) => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p)
    return (x + 0.05) / (y + 0.05)
  }
  /** background of el: its own background (unless skipSelf: an indicator's own is its
   *  colour) and its ancestors' blended down to the first opaque one (the page's canvas below
   *  all); opacity is the product of the opacities on the way, which fades what is drawn. */
  const background = (el, skipSelf) => {
    const layers = []
    let opacity = 1
    let e = el
    if (skipSelf) {
      opacity *= Number(getComputedStyle(el).opacity)
      e = el.parentElement
    }
    for (; e && e.nodeType === 1; e = e.parentElement) {
      const cs = getComputedStyle(e)
      const bg = parse(cs.backgroundColor)
      if (bg && bg[3] > 0) {
        layers.push(bg)
        if (bg[3] >= 1) break
      }
      opacity *= Number(cs.opacity)
    }
    let base = [0.07, 0.07, 0.07, 1] // Chromium's dark canvas
    if (layers.length && layers[layers.length - 1][3] >= 1) base = layers.pop()
    for (let i = layers.length - 1; i >= 0; i--) base = over(layers[i], base)
    return { bg: base, opacity }
  }
  const fmt = (c) => '#' + c.slice(0, 3).map((v) => Math.round(v * 255).toString(16).padStart(2, '0')).join('')

  /** clippedBy is the ancestor that cuts el's box, if any. */
  function clippedBy(el, r) {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const cs = getComputedStyle(a)
      if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue
      const b = a.getBoundingClientRect()
      const sideways = cs.overflowX !== 'visible' && (r.left < b.left - 1 || r.right > b.right + 1)
      const cuts = cs.overflowY === 'hidden' || cs.overflowY === 'clip'
      const vertical = cuts && (r.top < b.top - 1 || r.bottom > b.bottom + 1)
      if (sideways || vertical) return a
    }
    return null
  }

  /** visiblePart is the part of el's box r that its scrolling ancestors show now (null when
   *  it is scrolled wholly out of view): a box scrolled under a neighbour is not touched there. */
  const visiblePart = (el, r) => {
    let v = { left: r.left, top: r.top, right: r.right, bottom: r.bottom }
    for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const cs = getComputedStyle(a)
      const scrolls = /auto|scroll|hidden/.test(cs.overflowY + cs.overflowX) &&
        (a.scrollHeight > a.clientHeight + 1 || a.scrollWidth > a.clientWidth + 1)
      if (!scrolls) continue
      const b = a.getBoundingClientRect()
      const top = b.top + a.clientTop
      const left = b.left + a.clientLeft
      v = { left: Math.max(v.left, left), top: Math.max(v.top, top),
        right: Math.min(v.right, left + a.clientWidth), bottom: Math.min(v.bottom, top + a.clientHeight) }
      if (v.right <= v.left || v.bottom <= v.top) return null
    }
    return v
  }
  /** offScreen tells whether el's box reaches past the viewport with nothing to scroll it in:
   *  no scrolling ancestor, and the page may not scroll (or el is fixed and cannot). */
  function offScreen(el, r) {
    if (r.bottom <= innerHeight + 1 && r.right <= innerWidth + 1) return false
    let fixed = false
    for (let a = el; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
      const cs = getComputedStyle(a)
      if (cs.position === 'fixed') fixed = true
      if (a === el) continue
      const scrolls = (cs.overflowY === 'auto' || cs.overflowY === 'scroll') && a.scrollHeight > a.clientHeight + 1
      const scrollsX = (cs.overflowX === 'auto' || cs.overflowX === 'scroll') && a.scrollWidth > a.clientWidth + 1
      if (scrolls || scrollsX) return false
    }
    return fixed || !rules.pageScroll
  }

  // (a) touch targets and their gaps
  const targets = []
  for (const el of document.querySelectorAll(INTERACTIVE)) {
    if (el.matches('[tabindex]') && Number(el.getAttribute('tabindex')) < 0 && !el.matches('button, a[href], input, select, textarea, [role=button], [data-touch]')) continue
    if (el.disabled && el.matches('input, select, textarea') && el.type === 'hidden') continue
    const r = shown(el)
    if (!r) continue
    counts.interactive++
    targets.push({ el, r, v: visiblePart(el, r) })
    const min = el.hasAttribute('data-primary') ? rules.primaryMin : rules.touchMin
    const rule = el.hasAttribute('data-primary') ? 'primary target size' : 'target size'
    note(el.hasAttribute('data-primary') ? 'primary' : 'target', Math.min(r.width, r.height))
    if (r.width + 0.5 < min || r.height + 0.5 < min) fail(el, rule, `${round(r.width)}x${round(r.height)} px`, `>= ${min}x${min} px`)
    const cut = clippedBy(el, r)
    if (cut) fail(el, 'target clipped', `cut by ${describe(cut)}`, 'wholly visible')
    if (offScreen(el, r)) {
      fail(el, 'target off-screen', `${round(r.left)},${round(r.top)} to ${round(r.right)},${round(r.bottom)} px`, `inside ${innerWidth}x${innerHeight} px or scrolled to`)
    }
  }
  for (let i = 0; i < targets.length; i++) {
    for (let j = i + 1; j < targets.length; j++) {
      const a = targets[i]
      const b = targets[j]
      if (a.el.contains(b.el) || b.el.contains(a.el)) continue
      // Gaps are between what a glove can touch now: the parts not scrolled out of view.
      if (!a.v || !b.v) continue
      const dx = Math.max(0, Math.max(a.v.left, b.v.left) - Math.min(a.v.right, b.v.right))
      const dy = Math.max(0, Math.max(a.v.top, b.v.top) - Math.min(a.v.bottom, b.v.bottom))
      const gap = Math.hypot(dx, dy)
      note('gap', gap)
      if (gap + 0.5 < rules.gap) {
        fail(a.el, 'gap between targets', `${round(gap)} px to ${describe(b.el)}`, `>= ${rules.gap} px`)
      }
    }
  }

  // (b) text contrast: every text node with letters, and the text of form fields
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
  const seen = new Set()
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement
    if (!el || !/\S/.test(n.textContent) || el.closest('script, style, option, noscript, svg title')) continue
    const range = document.createRange()
    range.selectNodeContents(n)
    const rr = range.getBoundingClientRect()
    if (rr.width <= 0 || rr.height <= 0 || hiddenByStyle(el) || covered(el, rr)) continue
    counts.text++
    checkText(el, n.textContent)
    seen.add(el)
  }
  for (const el of document.querySelectorAll('input:not([type=hidden]), textarea, select')) {
    if (seen.has(el) || !shown(el)) continue
    const t = el.tagName === 'SELECT' ? el.selectedOptions[0]?.textContent : el.value || el.placeholder
    if (!t || !/\S/.test(t)) continue
    counts.text++
    checkText(el, t)
  }
  /** checkText measures el's text against what it is drawn on: for SVG text its fill on the
   *  shape it sits on (the svg's [data-indicator]), else its colour on its background. */
  function checkText(el, t) {
    const cs = getComputedStyle(el)
    const svg = el instanceof SVGElement
    const fg = parse(svg ? cs.fill : cs.color)
    if (!fg) return
    const b = background(el, false)
    const opacity = b.opacity
    let bg = b.bg
    const under = svg && el.ownerSVGElement?.querySelector('[data-indicator]')
    if (under) {
      const f = parse(getComputedStyle(under).fill)
      if (f && f[3] > 0) bg = over(f, bg)
    }
    const ink = over([fg[0], fg[1], fg[2], fg[3] * opacity], bg)
    const r = ratio(ink, bg)
    note('text', r)
    if (r + 0.005 < rules.text) {
      fail(el, 'text contrast', `${r.toFixed(2)}:1 (${fmt(ink)} on ${fmt(bg)}) for "${t.replace(/\s+/g, ' ').trim().slice(0, 40)}"`, `>= ${rules.text}:1`)
    }
  }

  // (b) non-text indicators
  for (const el of document.querySelectorAll('[data-indicator]')) {
    const r = shown(el)
    if (!r) continue
    counts.indicators++
    const cs = getComputedStyle(el)
    let c = null
    if (el instanceof SVGElement) c = parse(cs.stroke) && cs.strokeWidth !== '0px' ? parse(cs.stroke) : parse(cs.fill)
    if (!c) c = parse(cs.backgroundColor)
    if (!c || c[3] === 0) c = parseFloat(cs.borderTopWidth) > 0 ? parse(cs.borderTopColor) : parse(cs.color)
    if (!c) continue
    const { bg, opacity } = background(el, true)
    const col = over([c[0], c[1], c[2], (c[3] ?? 1) * opacity], bg)
    const k = ratio(col, bg)
    note('indicator', k)
    if (k + 0.005 < rules.indicator) fail(el, 'indicator contrast', `${k.toFixed(2)}:1 (${fmt(col)} on ${fmt(bg)})`, `>= ${rules.indicator}:1`)
  }

  // (c) the ink of the values: the digits' glyph height in the computed font
  const ctx = document.createElement('canvas').getContext('2d')
  for (const el of document.querySelectorAll('[data-ink]')) {
    if (!rules.inkMin || !shown(el)) continue
    const t = (el.textContent || '').trim()
    if (!t) continue
    counts.values++
    const cs = getComputedStyle(el)
    ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`
    const m = ctx.measureText(t.replace(/[^0-9]/g, '') || t)
    const h = m.actualBoundingBoxAscent + m.actualBoundingBoxDescent
    note('ink', h)
    if (h + 0.5 < rules.inkMin) fail(el, 'value ink height', `${round(h)} px (${cs.fontSize} ${cs.fontFamily.split(',')[0]})`, `>= ${rules.inkMin} px`)
  }

  // (d) the state shapes
  for (const el of document.querySelectorAll('[data-shape]')) {
    if (!rules.shapeMin) continue
    const r = shown(el)
    if (!r) continue
    counts.shapes++
    note('shape', Math.min(r.width, r.height))
    if (r.width + 0.5 < rules.shapeMin || r.height + 0.5 < rules.shapeMin) {
      fail(el, 'state shape size', `${round(r.width)}x${round(r.height)} px`, `>= ${rules.shapeMin}x${rules.shapeMin} px`)
    }
  }
  for (const k of Object.keys(least)) least[k] = Number.isFinite(least[k]) ? round(least[k]) : null
  return { violations: out, counts, least }
}

/** audit measures the page as it is now against rules and returns { violations, counts }. */
export async function audit(page, rules) {
  return page.evaluate(measure, rules)
}

/** report spells an audit's violations one a line, for the test's failure message. */
export function report(screen, res) {
  return res.violations.map((v) => `  ${screen}: ${v.rule}: ${v.element}: ${v.measured}, needs ${v.required}`).join('\n')
}
