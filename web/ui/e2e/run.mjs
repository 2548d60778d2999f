#!/usr/bin/env node
// End-to-end test of the operator UI: runs the real maskserviced binary (simulated
// transducers, demo users) and drives Debian's chromium through playwright-core, at the LCD's
// 1280x400 and at a phone's 390x844.
//
//   node web/ui/e2e/run.mjs --daemon bin/maskserviced [--ui-dir web/ui/dist] [--only lcd|phone] [--lang pl|en] [--keep]
//
// The flow, per viewport: signed out, the panel's live view (the browser is on loopback, so it
// is the panel: live values, the sign-in button; the phone's daemon also listens on HTTPS, the
// hotspot's listener, where the same page shows only the sign-in screen); sign in as each of
// the four roles (live values, user badge, sign-out back to the live view); the panel's recent
// users and PIN keypad in both languages; signed out, the critical banner of a scripted
// excursion of P1, whose acknowledge asks for a sign-in and then opens its dialog (at 1280x400
// with the PIN, every touch counted: at most 9 from the live view's banner to the acknowledged
// alarm); as OPERATOR on the phone acknowledge its banner,
// find the alert acknowledged on the Alerts screen, see the trend chart; stop the daemon and
// see the connection-lost overlay, start it again and see the page recover by itself.
// Then an excursion that clears before anyone acknowledges it: the banner says it cleared and
// when, and acknowledge-all on the Alerts screen takes it away.
// Every screen shown (each screenshot, and every screen of the navigation for the SUPERUSER)
// is audited against the HMI rules (e2e/hmi-audit.mjs: target sizes and gaps, contrast, the
// ink of the values, the state shapes); any violation fails the run, listed in full, and
// test-output/hmi-audit.json holds every screen's figures. A tap outside the acknowledge
// dialog must leave it open. Once,
// at 1280x400, the time from navigation to the first live values under 4x CPU throttling.
// Last, the API reference (/api/redoc): ReDoc renders the spec from the daemon alone.
// Throughout: no request to another origin, no console error, no token in localStorage.
//
// Screenshots go to web/ui/test-output/screenshots/<size>/<name>.png; the first-values
// figure to web/ui/test-output/first-values.json. Exit 0 on success, 1 on a failure (with the
// reason and the tail of the daemon's log), 2 on bad usage or a missing browser.
//
// Environment: CHROMIUM overrides the browser (default /usr/bin/chromium, the Debian package
// chromium); E2E_HEADED=1 shows the browser (needs a display).

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { RULES, audit, report } from './hmi-audit.mjs'
import * as lang from './lang-checks.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const OUT = path.resolve(HERE, '..', 'test-output')
const T0 = Date.now()
const TOTAL_TIMEOUT_MS = 5 * 60_000 // the whole run; the flow itself takes under a minute

// P1's scripted excursion in the critical phase: normal until CRIT_AT_S seconds after the
// daemon started, then 9.6 bar (critical is above 9) for as long as it runs. The step takes a
// microsecond, so no reading lands in the warning band on the way (that would open a WARNING
// alert that then escalates, a different path).
const CRIT_AT_S = 8
// The excursion that clears by itself: critical from CLEAR_FROM_S to CLEAR_TO_S after start.
const CLEAR_FROM_S = 6
const CLEAR_TO_S = 9
const PASSWORD = 'password123'
const USERS = { OPERATOR: 'operator1', ADMIN: 'admin1', SUPERUSER: 'super1', SERWISANT: 'serwis1' }
const PINS = { operator1: '2580', admin1: '1470', super1: '3690', serwis1: '1590' } // --demo's
// The issue's budget: from the sign-in screen to an acknowledged critical alarm, at most this
// many touches (pick the user, four digits, OK, acknowledge, confirm: 8).
const MAX_TOUCHES_TO_ACK = 9
const STATUSES = new Set(['normal', 'warning', 'critical', 'fault', 'nodata'])

const VIEWPORTS = {
  lcd: {
    size: '1280x400',
    rules: 'lcd',
    osk: true,
    countTouches: true, // the PIN sign-in and the acknowledgement, touch by touch
    context: { viewport: { width: 1280, height: 400 }, hasTouch: true, deviceScaleFactor: 1 },
  },
  phone: {
    size: '390x844',
    rules: 'phone',
    osk: false,
    context: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
  },
}

// ---------------------------------------------------------------------------------------------
// Arguments

function usage(msg) {
  console.error(`e2e: ${msg}\nusage: node web/ui/e2e/run.mjs --daemon PATH [--ui-dir DIR] [--only lcd|phone] [--lang pl|en] [--keep]`)
  process.exit(2)
}

function parseArgs(argv) {
  const a = { daemon: '', uiDir: '', only: '', lang: 'pl', keep: false }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const val = () => {
      if (i + 1 >= argv.length) usage(`${k} needs a value`)
      return argv[++i]
    }
    if (k === '--daemon') a.daemon = val()
    else if (k.startsWith('--daemon=')) a.daemon = k.slice(9)
    else if (k === '--ui-dir') a.uiDir = val()
    else if (k.startsWith('--ui-dir=')) a.uiDir = k.slice(9)
    else if (k === '--lang') a.lang = val()
    else if (k.startsWith('--lang=')) a.lang = k.slice(7)
    else if (k === '--only') a.only = val()
    else if (k.startsWith('--only=')) a.only = k.slice(7)
    else if (k === '--keep') a.keep = true
    else if (k === '-h' || k === '--help') usage('help')
    else usage(`unknown argument ${k}`)
  }
  if (!a.daemon) usage('--daemon is required')
  if (!['pl', 'en'].includes(a.lang)) usage(`--lang: want pl or en, not ${a.lang}`)
  if (a.only && !VIEWPORTS[a.only]) usage(`--only: want lcd or phone, not ${a.only}`)
  a.daemon = path.resolve(a.daemon)
  if (a.uiDir) a.uiDir = path.resolve(a.uiDir)
  return a
}

// ---------------------------------------------------------------------------------------------
// Output, steps and waiting

const secs = () => ((Date.now() - T0) / 1000).toFixed(1).padStart(6)
function log(tag, msg) {
  console.log(`[${secs()}s] ${tag ? `[${tag}] ` : ''}${msg}`)
}

/** Failure is a test failure with a message meant for the person reading the output. */
class Failure extends Error {}

const results = [] // { tag, name, ok, ms, note }

/** step runs fn as one named step, logs it and records it for the summary; a failure ends the run. */
async function step(tag, name, fn) {
  const t = Date.now()
  try {
    const note = await fn()
    const ms = Date.now() - t
    results.push({ tag, name, ok: true, ms, note: note || '' })
    log(tag, `ok   ${name} (${ms} ms)${note ? ' — ' + note : ''}`)
    return note
  } catch (e) {
    const ms = Date.now() - t
    results.push({ tag, name, ok: false, ms, note: firstLine(e) })
    if (!interrupted) log(tag, `FAIL ${name} (${ms} ms)`)
    e.step = `${tag}: ${name}`
    throw e
  }
}

function firstLine(e) {
  return String(e?.message ?? e).split('\n')[0]
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** until polls fn until it returns something truthy; fails after timeoutMs naming what it waited for. */
async function until(what, fn, timeoutMs, everyMs = 100) {
  const deadline = Date.now() + timeoutMs
  let last
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
      last = undefined
    } catch (e) {
      last = e
    }
    if (Date.now() >= deadline) {
      throw new Failure(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${firstLine(last)})` : ''}`)
    }
    await sleep(everyMs)
  }
}

const sel = (id) => `[data-testid="${id}"]`

/** visible waits for a test id to be visible. */
async function visible(page, id, timeoutMs = 10_000, what = '') {
  try {
    await page.locator(sel(id)).first().waitFor({ state: 'visible', timeout: timeoutMs })
  } catch (e) {
    throw new Failure(`${what || `[data-testid=${id}]`} did not become visible within ${timeoutMs} ms (url ${page.url()})`)
  }
}

/** hidden waits for a test id to be gone or hidden. */
async function hidden(page, id, timeoutMs = 10_000, what = '') {
  try {
    await page.locator(sel(id)).first().waitFor({ state: 'hidden', timeout: timeoutMs })
  } catch (e) {
    throw new Failure(`${what || `[data-testid=${id}]`} was still visible after ${timeoutMs} ms (url ${page.url()})`)
  }
}

/** tap touches the first element of a test id (both contexts have touch), after waiting for it. */
async function tap(page, id, timeoutMs = 10_000) {
  const loc = page.locator(sel(id)).first()
  await visible(page, id, timeoutMs)
  await loc.tap({ timeout: timeoutMs })
}

async function text(loc, timeoutMs = 2000) {
  return ((await loc.textContent({ timeout: timeoutMs })) ?? '').replace(/\s+/g, ' ').trim()
}

/** isNumber tells a displayed value: digits with a decimal point or comma, maybe a sign and
 *  thousands separators (spaces, narrow no-break spaces). */
function isNumber(s) {
  return /^[-−+]?\d{1,3}([\s\u00a0\u202f]?\d{3})*([.,]\d+)?$|^[-−+]?\d+([.,]\d+)?$/.test(s)
}

// ---------------------------------------------------------------------------------------------
// The daemon

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

const daemons = new Set() // every running daemon, for the cleanup

class Daemon {
  constructor({ bin, dataDir, port, uiDir, logFile, tag }) {
    Object.assign(this, { bin, dataDir, port, uiDir, logFile, tag })
    this.origin = `http://127.0.0.1:${port}`
    this.proc = null
    this.exited = null // a promise of the exit
    this.startedAt = 0
  }

  /** start runs the daemon with config and waits until /readyz answers 200. */
  async start(config) {
    if (this.proc) throw new Error('daemon already running')
    const args = ['serve', '--config', config, '--data', this.dataDir, '--listen', `127.0.0.1:${this.port}`, '--demo']
    if (this.uiDir) args.push('--ui-dir', this.uiDir)
    fs.appendFileSync(this.logFile, `\n=== ${new Date().toISOString()} ${this.bin} ${args.join(' ')}\n`)
    const fd = fs.openSync(this.logFile, 'a')
    const proc = spawn(this.bin, args, { stdio: ['ignore', fd, fd] })
    fs.closeSync(fd)
    this.proc = proc
    this.startedAt = Date.now()
    daemons.add(this)
    let exitInfo = null
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        exitInfo = { code, signal }
        daemons.delete(this)
        if (this.proc === proc) this.proc = null
        resolve(exitInfo)
      })
      proc.on('error', (err) => {
        exitInfo = { code: -1, signal: null, err }
        daemons.delete(this)
        if (this.proc === proc) this.proc = null
        resolve(exitInfo)
      })
    })
    const deadline = Date.now() + 30_000
    for (;;) {
      if (exitInfo) {
        throw new Failure(`daemon exited during start (${exitInfo.err ? exitInfo.err.message : `code ${exitInfo.code}, signal ${exitInfo.signal}`}); see its log below`)
      }
      try {
        const r = await fetch(`${this.origin}/readyz`, { signal: AbortSignal.timeout(1000) })
        await r.arrayBuffer().catch(() => {})
        if (r.status === 200) return Date.now() - this.startedAt
      } catch {
        // not listening yet
      }
      if (Date.now() >= deadline) throw new Failure(`daemon not ready (GET /readyz != 200) within 30 s; see its log below`)
      await sleep(50)
    }
  }

  /** stop sends SIGTERM and waits for the exit (SIGKILL after 10 s). */
  async stop() {
    const proc = this.proc
    if (!proc) return
    proc.kill('SIGTERM')
    const r = await Promise.race([this.exited, sleep(10_000).then(() => null)])
    if (r) return r
    log(this.tag, 'daemon did not exit within 10 s of SIGTERM; killing it')
    proc.kill('SIGKILL')
    await Promise.race([this.exited, sleep(5000)])
    throw new Failure('daemon did not exit within 10 s of SIGTERM')
  }

  kill() {
    if (this.proc) this.proc.kill('SIGKILL')
  }
}

function logTail(file, lines = 40) {
  try {
    const all = fs.readFileSync(file, 'utf8').trimEnd().split('\n')
    return all.slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

// P2's script: a sawtooth inside its normal band (1..4 bar), 1.5 -> 3.5 -> 1.5 bar in 40 s
// segments for 20 minutes, so its displayed value (two decimals) changes with every reading.
// The default profile would not do: in its resting phase only noise of about 0.01 bar moves
// the value, and two readings a few seconds apart often show the same two decimals.
const P2_SCRIPT = `[${Array.from({ length: 31 }, (_, i) => `[${i * 40}.0, ${i % 2 ? '3.5' : '1.5'}]`).join(', ')}]`

function sensorsToml(p1Script) {
  // All three sensors of the specification: a config holds only the sensors it lists, and
  // each takes the specification's name, unit, range and bands. P1 and P3 follow the
  // simulator's default profile inside their normal band unless scripted; a script holds its
  // last point's value after its end.
  return `# written by web/ui/e2e/run.mjs
[[bus]]
name = "sim"
driver = "sim"

[[sensor]]
id = "P1"
bus = "sim"
${p1Script ? `sim_script = ${p1Script}\n` : ''}
[[sensor]]
id = "P2"
bus = "sim"
sim_script = ${P2_SCRIPT}

[[sensor]]
id = "P3"
bus = "sim"
`
}

// ---------------------------------------------------------------------------------------------
// Browser checks that run through the whole flow

/** Watch collects what must not happen on a page: requests to other origins, console errors,
 *  uncaught exceptions. The expected failures of a stopped daemon are allowed only while
 *  outage is set, and only in their exact forms. */
class Watch {
  constructor(tag, origin) {
    this.tag = tag
    this.origin = origin
    this.wsOrigin = origin.replace(/^http/, 'ws')
    this.outage = false
    this.refusing = false // a sign-in meant to fail: its 401 is expected
    this.foreign = []
    this.errors = []
    this.allowed = 0
    this.sockets = [] // { at, failed } per WebSocket the page opened
    const port = new URL(origin).port
    this.expected = [
      // Chromium's words for a WebSocket that cannot connect to the stopped daemon.
      new RegExp(`^WebSocket connection to 'ws://127\\.0\\.0\\.1:${port}/api/ws/sensors[^']*' failed: `),
      // A fetch to the stopped daemon (the header's status poll, a reload of alerts).
      /^Failed to load resource: net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|CONNECTION_CLOSED)$/,
    ]
  }

  attach(page) {
    page.on('request', (req) => {
      const u = req.url()
      if (u.startsWith(this.origin + '/') || u === this.origin || u.startsWith('data:') || u.startsWith('blob:')) return
      this.foreign.push(`${req.method()} ${u}`)
    })
    page.on('websocket', (ws) => {
      const u = ws.url()
      if (!u.startsWith(this.wsOrigin + '/')) this.foreign.push(`WebSocket ${u}`)
      const s = { at: Date.now(), failed: false }
      this.sockets.push(s)
      ws.on('socketerror', () => (s.failed = true))
      ws.on('close', () => (s.failed = true))
    })
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return
      const t = msg.text()
      const where = msg.location()?.url || ''
      if (this.outage && this.expected.some((re) => re.test(t)) && (where === '' || where.startsWith(this.origin))) {
        this.allowed++
        this.allowedSample ||= t
        return
      }
      if (this.refusing && /^Failed to load resource: the server responded with a status of 401\b/.test(t) && where === `${this.origin}/api/auth/login`) {
        this.allowed++
        return
      }
      this.errors.push(`console.error at ${secs().trim()}s: ${t}${where ? ` (${where})` : ''}`)
    })
    page.on('pageerror', (err) => {
      this.errors.push(`uncaught exception at ${secs().trim()}s: ${err?.stack || err}`)
    })
    page.on('crash', () => this.errors.push(`page crashed at ${secs().trim()}s`))
  }
}

async function noTokenStored(page) {
  const found = await page.evaluate(() => {
    const out = []
    for (const store of [localStorage, sessionStorage]) {
      for (let i = 0; i < store.length; i++) {
        const k = store.key(i)
        const v = store.getItem(k) ?? ''
        if (v.includes('eyJ') || k.includes('eyJ')) out.push(`${store === localStorage ? 'localStorage' : 'sessionStorage'}[${k}]`)
      }
    }
    return out
  })
  if (found.length) throw new Failure(`a token (a value containing "eyJ") is stored in ${found.join(', ')}`)
}

// ---------------------------------------------------------------------------------------------
// UI helpers

// LANG: the UI's language for the run (--lang); Polish, the operators', unless told.
let LANG = 'pl'
/** shotDir: screenshots/<size> in Polish, screenshots/en/<size> in English. */
const shotDir = (vp) => (LANG === 'pl' ? path.join(OUT, 'screenshots', vp.size) : path.join(OUT, 'screenshots', LANG, vp.size))

/** shot saves a screenshot of the page and, unless told not to, audits the screen against
 *  the HMI rules (e2e/hmi-audit.mjs): every screen the test shows is shot, so every screen,
 *  a new one included, is audited. */
async function shot(page, vp, name, { audited = true } = {}) {
  const dir = shotDir(vp)
  await fsp.mkdir(dir, { recursive: true })
  await page.screenshot({ path: path.join(dir, `${name}.png`), timeout: 10_000 })
  if (audited) await auditScreen(page, vp, name)
  // Every screen of our UI, in both languages: nothing clipped (lang-checks.mjs).
  if (!/^(FAILED|api-reference)|\.(pl|en)$/.test(name)) await lang.checkScreen(page, vp, name)
}

// WAIVED: screens whose violations are reported but do not fail the run, each with why
// ([regexp of the screen's name, why]). None: every screen passes.
const WAIVED = []
const audits = [] // { size, screen, violations, counts, waived }

/** auditScreen measures the screen as it is now and records what it found; the run fails at
 *  its end on any violation of a screen not waived, listing all of them. */
async function auditScreen(page, vp, name) {
  const res = await audit(page, RULES[vp.rules])
  const waived = WAIVED.find(([re]) => re.test(name) || re.test(`${vp.size} ${name}`))?.[1] || ''
  audits.push({ size: vp.size, screen: name, ...res, waived })
  const c = res.counts
  const l = res.least
  const what = `${c.interactive} targets, ${c.text} texts, ${c.indicators} indicators, ${c.values} values, ${c.shapes} shapes; least: ` +
    `target ${l.target ?? '-'} px, primary ${l.primary ?? '-'} px, gap ${l.gap ?? '-'} px, text ${l.text ?? '-'}:1, indicator ${l.indicator ?? '-'}:1, ink ${l.ink ?? '-'} px, shape ${l.shape ?? '-'} px`
  if (res.violations.length) {
    log(vp.size, `audit ${name}: ${res.violations.length} violations${waived ? ` (waived: ${waived})` : ''} (${what})\n${report(name, res)}`)
  } else {
    log(vp.size, `audit ${name}: ok (${what})`)
  }
}

/** nav opens a screen by its navigation entry; on a phone the entry may hide in the menu. */
async function nav(page, name) {
  const link = page.locator(sel(`nav-${name}`)).first()
  if (!(await link.isVisible())) {
    const menu = page.locator(sel('menu')).first()
    if (!(await menu.isVisible())) {
      throw new Failure(`neither [data-testid=nav-${name}] nor [data-testid=menu] is visible (url ${page.url()})`)
    }
    await menu.tap({ timeout: 5000 })
    await visible(page, `nav-${name}`, 5000, `[data-testid=nav-${name}] after opening the menu`)
  }
  await link.tap({ timeout: 5000 })
  await visible(page, name, 10_000, `the ${name} screen ([data-testid=${name}]) after tapping nav-${name}`)
}

/** tiles checks P1..P3 show a number and a status word; returns their texts. */
async function checkTiles(page, timeoutMs = 10_000) {
  const out = {}
  for (const id of ['P1', 'P2', 'P3']) {
    const tile = page.locator(sel(`tile-${id}`)).first()
    await visible(page, `tile-${id}`, timeoutMs)
    out[id] = await until(
      `tile ${id} to show a value and a status word`,
      async () => {
        const status = await tile.getAttribute('data-status', { timeout: 1000 })
        const word = await text(tile.locator(sel('status')).first(), 1000)
        const value = await text(tile.locator(sel('value')).first(), 1000)
        if (!STATUSES.has(status) || !word) return null
        if (status !== 'fault' && !isNumber(value)) return null
        return { status, word, value }
      },
      timeoutMs,
    ).catch(async (e) => {
      const html = await tile.innerHTML({ timeout: 1000 }).catch(() => '?')
      throw new Failure(`${e.message}; the tile holds: ${html.slice(0, 400)}`)
    })
  }
  return out
}

/** valueChanges waits for P2's value text to change (live data). */
async function valueChanges(page, timeoutMs = 6000) {
  const v = page.locator(`${sel('tile-P2')} ${sel('value')}`).first()
  const before = await text(v)
  const t = Date.now()
  const after = await until(`P2's value to change from "${before}" (live values)`, async () => {
    const now = await text(v, 1000)
    return now !== before && isNumber(now) ? now : null
  }, timeoutMs)
  return `P2 ${before} -> ${after} in ${Date.now() - t} ms`
}

async function signIn(page, vp, watch, role, { typeOnOsk, first }) {
  const username = USERS[role]
  if (!(await page.locator(sel('signin')).first().isVisible())) {
    if (!(await page.locator(sel('live-signin')).first().isVisible())) await page.goto(watch.origin + '/', { timeout: 15_000 })
    // Signed out on the panel (loopback), the live view comes first; its button leads on.
    await until('the sign-in screen or the live view\'s sign-in button', async () =>
      (await page.locator(sel('signin')).first().isVisible()) || (await page.locator(sel('live-signin')).first().isVisible()), 10_000)
    if (await page.locator(sel('live-signin')).first().isVisible()) await tap(page, 'live-signin', 5000)
  }
  await visible(page, 'signin', 10_000, 'the sign-in screen')
  // The role tiles: the sign-in screen's first view.
  const tile = page.locator(sel(`role-${role}`)).first()
  await visible(page, `role-${role}`, 10_000)
  for (const r of Object.keys(USERS)) await visible(page, `role-${r}`, 2000)
  await visible(page, 'lang-pl', 2000)
  await visible(page, 'lang-en', 2000)
  if (first) await shot(page, vp, 'signin')
  const roleName = await text(tile)
  if (!roleName) throw new Failure(`role tile ${role} has no text`)
  await tile.tap({ timeout: 5000 })
  await visible(page, 'field-username', 5000)
  await visible(page, 'field-password', 5000)
  const user = page.locator(sel('field-username')).first()
  const pass = page.locator(sel('field-password')).first()
  if (vp.osk) {
    await visible(page, 'osk', 5000, 'the on-screen keyboard [data-testid=osk] on the LCD')
  } else if (await page.locator(sel('osk')).first().isVisible()) {
    throw new Failure('the on-screen keyboard [data-testid=osk] is visible on the phone (the native one should be used)')
  }
  if (typeOnOsk) {
    // Prove the on-screen keyboard: type the username key by key.
    await user.tap({ timeout: 5000 })
    for (const c of username) {
      const key = page.locator(`${sel('osk')} [data-key="${c}"]`).first()
      // Digits and symbols are on the other layer: switch to it for a key this one lacks.
      if ((await key.count()) === 0) await page.locator(`${sel('osk')} [data-key="symbols"]`).first().tap({ timeout: 5000 })
      if ((await key.count()) === 0) throw new Failure(`the on-screen keyboard has no key data-key="${c}" on either layer`)
      await key.tap({ timeout: 5000 })
    }
    const got = await user.inputValue({ timeout: 2000 })
    if (got !== username) throw new Failure(`typed "${username}" on the on-screen keyboard, the username field holds "${got}"`)
  } else {
    await user.fill(username, { timeout: 5000 })
  }
  await pass.fill(PASSWORD, { timeout: 5000 })
  await shot(page, vp, `credentials-${role.toLowerCase()}`)
  await tap(page, 'signin-submit', 5000)
  const outcome = await until(`the home screen after signing in as ${username}`, async () => {
    if (await page.locator(sel('home')).first().isVisible()) return { ok: true }
    const err = page.locator(sel('signin-error')).first()
    if (await err.isVisible()) return { error: await text(err, 1000) }
    return null
  }, 10_000)
  if (outcome.error !== undefined) throw new Failure(`sign-in as ${username} (${role}) refused: "${outcome.error}"`)
  await noTokenStored(page)
  // The header: who is signed in, in which role.
  await visible(page, 'user-badge', 5000)
  const badge = (await text(page.locator(sel('user-badge')).first())).toLowerCase()
  if (!badge.includes(username.toLowerCase()) || !badge.includes(roleName.toLowerCase())) {
    throw new Failure(`user badge "${badge}" should name ${username} and the role "${roleName}"`)
  }
  for (const id of ['device-id', 'device-status', 'clock', 'alert-count', 'signout']) await visible(page, id, 5000)
  if (await page.locator(sel('idle-countdown')).first().isVisible()) {
    throw new Failure('the idle countdown [data-testid=idle-countdown] shows right after signing in')
  }
  return roleName
}

/** auditSelfTest shows the audit a page that breaks each of its rules once, and one that
 *  keeps them, so that a passing audit means the rules were measured, not skipped. */
async function auditSelfTest(context, vp) {
  const page = await context.newPage()
  try {
    const good = `<button style="width:120px;height:120px;background:#222;color:#fff;border:0">Go</button>`
    const bad = `<body style="margin:0;background:#111;font-family:DejaVu Sans">
      <div style="display:flex;gap:2px"><button style="width:40px;height:40px;background:#222;color:#fff;border:0">a</button>
      <button data-primary style="width:50px;height:50px;background:#222;color:#fff;border:0">b</button></div>
      <p style="color:#444">dim words</p>
      <div style="background:#222;height:20px"><div data-indicator style="background:#2a2a2a;width:50px;height:10px"></div></div>
      <span data-ink style="font-size:40px;color:#fff">5,00</span>
      <span data-shape style="display:inline-block;width:30px;height:30px;background:#f00"></span>
      <div style="width:100px;overflow:hidden"><button style="width:150px;height:80px;background:#222;color:#fff;border:0;margin-top:20px">cut</button></div>
      <button style="position:fixed;right:0;top:0;width:10px;height:10px">hidden under the dialog</button>
      <button style="position:fixed;left:0;bottom:-40px;width:120px;height:120px;background:#222;color:#fff;border:0">below</button>
      <div data-overlay role="dialog" style="position:fixed;inset:0 0 0 60%;background:#000"></div></body>`
    const rules = RULES[vp.rules]
    await page.setContent(good)
    const g = await audit(page, rules)
    if (g.violations.length) throw new Failure(`the audit finds violations on a page that keeps its rules:\n${report('self-test', g)}`)
    await page.setContent(bad)
    const b = await audit(page, rules)
    const found = new Set(b.violations.map((v) => v.rule))
    const want = ['target size', 'primary target size', 'gap between targets', 'text contrast', 'indicator contrast', 'target clipped', 'target off-screen']
    if (rules.inkMin) want.push('value ink height', 'state shape size')
    const missed = want.filter((r) => !found.has(r))
    if (missed.length) throw new Failure(`the audit missed ${missed.join(', ')} on a page that breaks them; it found:\n${report('self-test', b)}`)
    if (b.violations.some((v) => v.element.includes('hidden under'))) throw new Failure('the audit measured a button under a dialog')
    return `caught ${[...found].join(', ')}`
  } finally {
    await page.close().catch(() => {})
  }
}

/** everyScreen opens every screen the navigation offers (the router's screens the role may
 *  open) and audits each, so a screen added to the router is measured without a new step. */
async function everyScreen(page, vp) {
  const names = await page.locator('[data-testid^="nav-"]').evaluateAll((els) =>
    [...new Set(els.filter((e) => e.offsetParent !== null).map((e) => e.dataset.testid.slice(4)))])
  if (!names.length) throw new Failure('no navigation entries [data-testid^=nav-] to audit the screens by')
  for (const n of names) {
    await nav(page, n)
    await sleep(400) // the screen's first data and paint
    await shot(page, vp, `screen-${n}`)
  }
  await nav(page, 'home')
  return `audited ${names.join(', ')}`
}

/** TouchCounter taps for a step and counts its taps twice: each tap it makes, and each
 *  pointerdown the page sees (so a tap made some other way is counted too). */
class TouchCounter {
  constructor(page) {
    this.page = page
    this.taps = []
  }

  async start() {
    await this.page.evaluate(() => {
      window.__e2eTouches = 0
      if (!window.__e2eTouchListener) {
        window.__e2eTouchListener = () => window.__e2eTouches++
        document.addEventListener('pointerdown', window.__e2eTouchListener, true)
      }
    })
  }

  /** tap touches the first element of selector and counts it under what. */
  async tap(selector, what) {
    const loc = this.page.locator(selector).first()
    await loc.waitFor({ state: 'visible', timeout: 10_000 }).catch(() => {
      throw new Failure(`${what} (${selector}) did not become visible within 10 s`)
    })
    await loc.tap({ timeout: 5000 })
    this.taps.push(what)
  }

  /** seen is how many pointerdowns the page counted since start. */
  async seen() {
    return this.page.evaluate(() => window.__e2eTouches)
  }
}

/** box returns the rounded bounding box of the first element of selector. */
async function box(page, selector) {
  const b = await page.locator(selector).first().boundingBox({ timeout: 2000 })
  if (!b) throw new Failure(`${selector} has no box`)
  return { x: Math.round(b.x), y: Math.round(b.y), w: Math.round(b.width), h: Math.round(b.height) }
}

/** checkPinSizes measures the recent users' tiles and the keypad against the glove rules:
 *  every key at least 67x67 px, OK and the tiles at least 100 px tall, 13 px between keys. */
async function checkPinSizes(page, what) {
  const out = []
  if (what === 'tiles') {
    const tiles = await page.locator('button.who').all()
    for (const t of tiles) {
      const b = await t.boundingBox()
      if (!b || b.height < 100 || b.width < 100) throw new Failure(`a recent user's tile is ${b?.width}x${b?.height} px, want at least 100x100`)
    }
    const first = await box(page, 'button.who')
    return `${tiles.length} tiles, ${first.w}x${first.h} px`
  }
  const keys = {}
  for (const k of ['1', '2', '4', '0', 'del']) keys[k] = await box(page, `[data-pin-key="${k}"]`)
  keys.ok = await box(page, sel('pin-ok'))
  for (const [k, b] of Object.entries(keys)) {
    if (b.w < 67 || b.h < 67) throw new Failure(`PIN key ${k} is ${b.w}x${b.h} px, want at least 67x67`)
  }
  if (keys.ok.w < 100 || keys.ok.h < 100) throw new Failure(`the PIN's OK is ${keys.ok.w}x${keys.ok.h} px, want at least 100x100`)
  const gapX = keys['2'].x - (keys['1'].x + keys['1'].w)
  const gapY = keys['4'].y - (keys['1'].y + keys['1'].h)
  if (gapX < 13 || gapY < 13) throw new Failure(`the PIN keys are ${gapX} px apart across and ${gapY} px down, want at least 13`)
  out.push(`digits ${keys['1'].w}x${keys['1'].h}`, `0 ${keys['0'].w}x${keys['0'].h}`, `delete ${keys.del.w}x${keys.del.h}`,
    `OK ${keys.ok.w}x${keys.ok.h}`, `gaps ${gapX}/${gapY} px`)
  return out.join(', ')
}

/** pinScreens walks the panel's quick sign-in without signing in, in both languages, for its
 *  screenshots and sizes: the recent users (most recent first), the keypad, a wrong PIN. */
async function pinScreens(page, vp, watch) {
  // Signed out, the panel shows its live view; its sign-in button leads to the quick sign-in.
  if (await page.locator(sel('live-view')).first().isVisible()) await tap(page, 'live-signin', 5000)
  await visible(page, 'recent-users', 10_000, "the recent users' tiles [data-testid=recent-users] on the panel")
  const names = await page.locator('button.who .who-name').allTextContents()
  const want = Object.values(USERS).reverse()
  if (names.join(',') !== want.join(',')) throw new Failure(`recent users ${names.join(', ')}, want ${want.join(', ')} (most recent first)`)
  const notes = vp.countTouches ? [await checkPinSizes(page, 'tiles')] : []
  for (const lang of ['en', 'pl']) {
    await tap(page, `lang-${lang}`, 5000)
    await shot(page, vp, `signin-recent-${lang}`)
    await tap(page, 'recent-operator1', 5000)
    await visible(page, 'pin-step', 5000, 'the PIN keypad [data-testid=pin-step]')
    for (const d of PINS.operator1.slice(0, 2)) await page.locator(`[data-pin-key="${d}"]`).first().tap({ timeout: 5000 })
    const count = await page.locator(sel('pin-dots')).first().getAttribute('data-count')
    if (count !== '2') throw new Failure(`the PIN dots count ${count} after two digits`)
    await shot(page, vp, `signin-pin-${lang}`)
    // The glove rules are the LCD's; the phone keeps its own sizes.
    if (lang === 'en' && vp.countTouches) notes.push(await checkPinSizes(page, 'keys'))
    await tap(page, 'signin-back', 5000)
  }
  // A wrong PIN (one failure of three on the panel's count; the right one clears it).
  await tap(page, 'recent-operator1', 5000)
  for (const d of '1111') await page.locator(`[data-pin-key="${d}"]`).first().tap({ timeout: 5000 })
  watch.refusing = true
  await tap(page, 'pin-ok', 5000)
  await visible(page, 'signin-error', 5000, 'the message of a wrong PIN')
  watch.refusing = false
  const msg = await text(page.locator(sel('signin-error')).first())
  if (!msg.includes('PIN')) throw new Failure(`a wrong PIN says "${msg}", want it to speak of the PIN`)
  await shot(page, vp, 'signin-pin-wrong-pl')
  await tap(page, 'signin-back', 5000)
  notes.push(`wrong PIN: "${msg}"`)
  // Back to the live view, as the panel is when nobody is signed in.
  await tap(page, 'signin-live', 5000)
  await visible(page, 'live-view', 5000, 'the live view after "back" on the sign-in screen')
  return notes.join('; ')
}

async function signOut(page) {
  await tap(page, 'signout', 5000)
  // On loopback the page is the panel: signed out, it shows the live view, not a blank sign-in.
  await visible(page, 'live-view', 10_000, 'the live view [data-testid=live-view] after signing out (loopback is the panel)')
  await visible(page, 'live-signin', 5000)
}

/** setLang switches the page's language as the sign-in screen would remember it, by reload. */
async function setLang(page, lang) {
  await page.evaluate((l) => localStorage.setItem('ms.lang', l), lang)
  await page.reload({ timeout: 15_000 })
}

/** tileToTrendAndAlerts taps P2's tile on home: the trend of P2 opens (the chart's
 *  data-sensor), its alerts link leads to the alerts screen filtered to P2, and the filter's
 *  button clears it (issue 16, "tap a tile"). */
async function tileToTrendAndAlerts(page, vp) {
  await nav(page, 'home')
  await tap(page, 'tile-P2')
  await visible(page, 'trends', 10_000, 'the trends screen after tapping the tile of P2')
  const chart = page.locator(sel('trend-chart')).first()
  await until('the trend chart of P2 with points', async () =>
    (await chart.getAttribute('data-sensor', { timeout: 1000 })) === 'P2' && Number(await chart.getAttribute('data-points', { timeout: 1000 })) > 1, 15_000)
  if (!new URL(page.url()).search.includes('sensor=P2')) throw new Failure(`the trend's URL is ${page.url()}; want ?sensor=P2`)
  await sleep(300) // the canvas paints
  await shot(page, vp, 'trends-p2')
  await tap(page, 'trend-alerts')
  await visible(page, 'alerts-filter', 10_000, 'the alerts screen filtered to P2 ([data-testid=alerts-filter])')
  const f = page.locator(sel('alerts-filter')).first()
  if ((await f.getAttribute('data-sensor')) !== 'P2') throw new Failure(`the alerts filter is for ${await f.getAttribute('data-sensor')}; want P2`)
  const others = await page.locator(sel('alert-row')).evaluateAll((els) => els.filter((el) => el.dataset.sensor !== 'P2').length)
  if (others) throw new Failure(`${others} alert rows of other sensors shown while filtered to P2`)
  const said = await text(f)
  await shot(page, vp, 'alerts-p2')
  await tap(page, 'alerts-filter-clear')
  await hidden(page, 'alerts-filter', 5000, 'the filter strip after clearing it')
  await nav(page, 'home')
  return `trend of P2, alerts filtered to P2 ("${said}"), filter cleared, home again`
}

/** signedOutLive checks the panel's live view with nobody signed in: the tiles live, no
 *  user's controls, the large sign-in button; screenshots in both languages. */
async function signedOutLive(page, vp, name) {
  await visible(page, 'live-view', 10_000, 'the live view [data-testid=live-view] while nobody is signed in')
  const tiles = await checkTiles(page)
  const moved = await valueChanges(page)
  for (const id of ['user-badge', 'signout', 'nav-alerts']) {
    if (await page.locator(sel(id)).first().isVisible()) throw new Failure(`[data-testid=${id}] is visible on the signed-out live view`)
  }
  const btn = await page.locator(sel('live-signin')).first().boundingBox()
  if (!btn || btn.height < 67 || btn.width < 67) throw new Failure(`the live view's sign-in button is ${btn?.width}x${btn?.height} px; want at least 67x67 (10 mm)`)
  await shot(page, vp, name)
  await setLang(page, 'en')
  await visible(page, 'live-view', 10_000, 'the live view after switching to English')
  await checkTiles(page)
  const word = await text(page.locator(sel('live-signin')).first())
  if (!/sign in/i.test(word)) throw new Failure(`the sign-in button reads "${word}" in English`)
  await shot(page, vp, `${name}-en`)
  await setLang(page, 'pl')
  await visible(page, 'live-view', 10_000, 'the live view after switching back to Polish')
  return `${Object.entries(tiles).map(([k, v]) => `${k} ${v.value} ${v.status}`).join(', ')}; ${moved}; sign-in button ${btn.width | 0}x${btn.height | 0} px`
}

/** idleBackToLiveView signs in on a page whose clock the test moves, jumps past the
 *  OPERATOR's idle timeout (30 min), and sees the panel go back to its live view, live, not
 *  to a blank sign-in screen. */
async function idleBackToLiveView(browser, vp, watch) {
  const context = await browser.newContext({ ...vp.context, locale: 'pl-PL', timezoneId: 'Europe/Warsaw', serviceWorkers: 'block' })
  try {
    await context.clock.install()
    const page = await context.newPage()
    watch.attach(page)
    await page.goto(watch.origin + '/', { timeout: 15_000 })
    await signIn(page, vp, watch, 'OPERATOR', { typeOnOsk: false, first: false })
    await checkTiles(page)
    await page.clock.fastForward('31:00')
    await visible(page, 'live-view', 10_000, 'the live view after the idle timeout')
    if (await page.locator(sel('user-badge')).first().isVisible()) throw new Failure('the user badge is still there after the idle timeout')
    await visible(page, 'live-ended', 2000, 'why the session ended [data-testid=live-ended] on the live view')
    const why = await text(page.locator(sel('live-ended')).first())
    await checkTiles(page)
    const moved = await valueChanges(page)
    await shot(page, vp, 'live-view-after-idle')
    return `signed out by the idle timeout, live view again, saying "${why}"; ${moved}`
  } finally {
    await context.close().catch(() => {})
  }
}

/** remoteSeesNothing opens the daemon's HTTPS listener (the hotspot: never the panel) at the
 *  phone's size: the sign-in screen, no values, and the live data answers 401. */
async function remoteSeesNothing(browser, vp, origin) {
  const context = await browser.newContext({ ...vp.context, ignoreHTTPSErrors: true, locale: 'pl-PL', serviceWorkers: 'block' })
  try {
    const page = await context.newPage()
    await page.goto(origin + '/', { timeout: 15_000 })
    await visible(page, 'signin', 10_000, `the sign-in screen at ${origin} (beyond the panel)`)
    await sleep(1500) // time for a live view that should not come
    for (const id of ['live-view', 'tile-P1', 'critical-banner']) {
      if (await page.locator(sel(id)).first().isVisible()) throw new Failure(`[data-testid=${id}] is visible at ${origin}, beyond the panel, signed out`)
    }
    const status = await page.evaluate(async () => (await fetch('/api/sensors/current', { credentials: 'omit' })).status)
    if (status !== 401) throw new Failure(`GET /api/sensors/current at ${origin} without a sign-in answered ${status}, want 401`)
    await shot(page, vp, 'remote-signin')
    return `sign-in screen only; /api/sensors/current ${status}`
  } finally {
    await context.close().catch(() => {})
  }
}

/** apiReference opens the API reference (/api/redoc) in a page of its own and waits for ReDoc,
 *  which the daemon embeds, to render the spec's title and an operation. Where its menu shows
 *  (not on a phone, where ReDoc folds it behind a button), its search must find an operation:
 *  ReDoc searches in a blob: worker, which the page's CSP has to allow. Every request must go
 *  to the daemon; the watch fails the run on any console error, a CSP violation included. */
async function apiReference(context, vp, watch) {
  const page = await context.newPage()
  watch.attach(page)
  const requests = []
  page.on('request', (req) => requests.push(req.url()))
  try {
    await page.goto(watch.origin + '/api/redoc', { timeout: 15_000 })
    const title = page.locator('h1', { hasText: 'MASKSERVICE C20 1001 Backend API' }).first()
    await title.waitFor({ state: 'visible', timeout: 15_000 }).catch(async () => {
      throw new Failure(`ReDoc rendered no h1 "MASKSERVICE C20 1001 Backend API" within 15 s; the page says: ${(await text(page.locator('body'), 1000).catch(() => '?')).slice(0, 300)}`)
    })
    const op = page.locator('h2', { hasText: /^\s*Sign in\s*$/ }).first()
    await op.waitFor({ state: 'visible', timeout: 5000 }).catch(() => {
      throw new Failure('ReDoc rendered the title but no operation heading "Sign in" (POST /api/auth/login) within 5 s')
    })
    await shot(page, vp, 'api-reference', { audited: false })
    let note = ''
    const search = page.locator('input[placeholder="Search..."]').first()
    if (await search.isVisible()) {
      await search.fill('acknowledge', { timeout: 5000 })
      const hits = page.locator('[data-role="search:results"] li[role="menuitem"]')
      const want = hits.and(page.locator('[aria-label="Acknowledge an alert"]'))
      await until('"Acknowledge an alert" among the results of searching "acknowledge" (ReDoc searches in a blob: worker)',
        async () => (await want.count()) > 0, 5000)
      note = `; search "acknowledge": ${await hits.count()} results, "Acknowledge an alert" among them`
      await shot(page, vp, 'api-reference-search', { audited: false })
    }
    const foreign = requests.filter((u) => !u.startsWith(watch.origin + '/') && !u.startsWith('blob:' + watch.origin + '/'))
    if (foreign.length) throw new Failure(`the API reference asked another host than ${watch.origin}:\n  ${[...new Set(foreign)].join('\n  ')}`)
    return `"${await text(title)}" and "Sign in" rendered; ${requests.length} requests, all to the daemon${note}`
  } finally {
    await page.close().catch(() => {})
  }
}

// ---------------------------------------------------------------------------------------------
// The flow of one viewport

async function runViewport(browser, args, tmp, name, measure) {
  const vp = VIEWPORTS[name]
  const tag = `${name} ${vp.size}`
  const dataDir = path.join(tmp, `data-${name}`)
  const port = await freePort()
  const d = new Daemon({ bin: args.daemon, dataDir, port, uiDir: args.uiDir, logFile: path.join(tmp, `daemon-${name}.log`), tag })
  let normal = path.join(tmp, 'normal.toml')
  let crit = path.join(tmp, 'critical.toml')
  let cleared = path.join(tmp, 'cleared.toml')
  // The phone's daemon listens on HTTPS too, the hotspot's listener: a client there is never
  // the panel, which the flow shows once (the flow itself stays on loopback, the panel).
  const tlsOrigin = name === 'phone' ? `https://127.0.0.1:${await freePort()}` : ''
  if (tlsOrigin) {
    const head = `[http]\ntls_listen = "${new URL(tlsOrigin).host}"\n`
    for (const [from, to] of [[normal, 'normal-tls.toml'], [crit, 'critical-tls.toml'], [cleared, 'cleared-tls.toml']]) {
      await fsp.writeFile(path.join(tmp, to), head + (await fsp.readFile(from, 'utf8')))
    }
    normal = path.join(tmp, 'normal-tls.toml')
    crit = path.join(tmp, 'critical-tls.toml')
    cleared = path.join(tmp, 'cleared-tls.toml')
  }
  const watch = new Watch(tag, d.origin)
  let context
  let page
  try {
    await step(tag, 'start the daemon (sim, demo users)', async () => `ready in ${await d.start(normal)} ms at ${d.origin}`)
    context = await browser.newContext({ ...vp.context, locale: LANG === 'pl' ? 'pl-PL' : 'en-GB', timezoneId: 'Europe/Warsaw', serviceWorkers: 'block' })
    // The language as the sign-in screen would remember it (lib/prefs.ts), before any page runs.
    await context.addInitScript((lang) => {
      if (!localStorage.getItem('ms.lang')) localStorage.setItem('ms.lang', lang)
    }, LANG)
    context.setDefaultTimeout(10_000)
    context.setDefaultNavigationTimeout(15_000)
    await step(tag, 'the HMI audit catches a screen that breaks its rules', () => auditSelfTest(context, vp))
    page = await context.newPage()
    watch.attach(page)

    // 0. Signed out on the panel: the live view. Beyond it (the phone's HTTPS listener): nothing.
    await step(tag, 'signed out on the panel: live values, sign-in button', async () => {
      await page.goto(watch.origin + '/', { timeout: 15_000 })
      return signedOutLive(page, vp, 'live-view')
    })
    if (tlsOrigin) await step(tag, 'beyond the panel (HTTPS listener): sign-in screen only', () => remoteSeesNothing(browser, vp, tlsOrigin))

    // 1. Every role signs in, sees live values and its badge, and signs out.
    let first = true
    for (const role of Object.keys(USERS)) {
      await step(tag, `sign in as ${USERS[role]} (${role})`, async () => {
        const rn = await signIn(page, vp, watch, role, { typeOnOsk: vp.osk && first, first })
        return `badge shows ${USERS[role]} / ${rn}${vp.osk && first ? '; username typed on the on-screen keyboard' : ''}`
      })
      first = false
      await step(tag, `live values as ${role}`, async () => {
        const tiles = await checkTiles(page)
        const moved = await valueChanges(page)
        await shot(page, vp, `home-${role.toLowerCase()}`)
        return `${Object.entries(tiles).map(([k, v]) => `${k} ${v.value} ${v.status}`).join(', ')}; ${moved}`
      })
      if (role === 'SUPERUSER') await step(tag, 'every screen of the navigation, audited', () => everyScreen(page, vp))
      await step(tag, `sign out (${role})`, () => signOut(page))
    }

    // The panel's quick sign-in: recent users (every role just signed in here) and the keypad.
    await step(tag, 'recent users and PIN keypad (pl, en)', () => pinScreens(page, vp, watch))

    // 2. The critical excursion: banner, acknowledge, alert list, trends.
    await step(tag, `restart the daemon with P1 going critical ${CRIT_AT_S} s after start`, async () => {
      watch.outage = true
      await d.stop()
      const ms = await d.start(crit)
      watch.outage = false
      return `ready in ${ms} ms`
    })
    // On the LCD every touch from the live view's banner to the acknowledged alarm is counted:
    // acknowledge (which asks for the sign-in), the panel's quick sign-in, confirm.
    const touches = vp.countTouches ? new TouchCounter(page) : null
    let signedOutAlert = ''
    await step(tag, 'signed out: critical banner on the live view', async () => {
      await visible(page, 'live-view', 10_000, 'the live view after the daemon restarted')
      await checkTiles(page)
      await valueChanges(page)
      const left = CRIT_AT_S * 1000 - (Date.now() - d.startedAt)
      await visible(page, 'critical-banner', Math.max(0, left) + 15_000, 'the critical banner on the signed-out live view')
      const p1 = page.locator(sel('tile-P1')).first()
      await until("P1's tile to show data-status=\"critical\" on the signed-out live view",
        async () => (await p1.getAttribute('data-status', { timeout: 1000 })) === 'critical', 3000)
      signedOutAlert = (await page.locator(sel('critical-banner')).first().getAttribute('data-alert-id')) || ''
      await visible(page, 'banner-ack', 2000, "the banner's acknowledge button, which asks for a sign-in")
      await shot(page, vp, 'live-view-critical')
      await setLang(page, 'en')
      await visible(page, 'critical-banner', 10_000, 'the critical banner on the signed-out live view in English')
      await shot(page, vp, 'live-view-critical-en')
      await setLang(page, 'pl')
      await visible(page, 'critical-banner', 10_000, 'the critical banner on the signed-out live view in Polish')
      // The panel sounds the alarm with nobody signed in; silencing needs no sign-in.
      let tone = ''
      if (name === 'lcd') tone = `; ${await lang.alarmSounds(page)}; ${await lang.silence(page)}`
      return `banner for alert ${signedOutAlert} ${(Date.now() - d.startedAt) / 1000 | 0} s after daemon start, nobody signed in${tone}`
    })
    await step(tag, 'signed out: acknowledging asks for a sign-in', async () => {
      if (touches) {
        await touches.start()
        await touches.tap(sel('banner-ack'), "acknowledge on the live view's banner")
      } else {
        await tap(page, 'banner-ack', 5000)
      }
      await visible(page, 'signin', 5000, 'the sign-in screen after touching acknowledge signed out')
      if (await page.locator(sel('ack-dialog')).first().isVisible()) throw new Failure('the acknowledge dialog opened with nobody signed in')
      await shot(page, vp, 'live-view-ack-signin')
    })
    await step(tag, `sign in as operator1 for the excursion${touches ? ' with the PIN, touches counted' : ''}`, async () => {
      if (!touches) {
        if (name === 'phone') await lang.soundSetting(page, true) // off by default on a phone
        await signIn(page, vp, watch, 'OPERATOR', { typeOnOsk: false, first: false })
        await checkTiles(page)
        return
      }
      await visible(page, 'recent-operator1', 10_000, "operator1's tile after the daemon's restart (the recent users are kept)")
      await touches.tap(sel('recent-operator1'), 'pick operator1')
      for (const d of PINS.operator1) await touches.tap(`[data-pin-key="${d}"]`, `digit ${d}`)
      await touches.tap(sel('pin-ok'), 'OK')
      await visible(page, 'home', 10_000, 'the home screen after the PIN sign-in')
      await noTokenStored(page)
      const badge = (await text(page.locator(sel('user-badge')).first())).toLowerCase()
      if (!badge.includes('operator1')) throw new Failure(`user badge "${badge}" after the PIN sign-in should name operator1`)
      await checkTiles(page)
      return `${touches.taps.length} touches so far`
    })
    let alertId = ''
    let touchNote = ''
    await step(tag, 'after the sign-in, the acknowledge dialog of that alert opens', async () => {
      await visible(page, 'ack-dialog', 5000, 'the acknowledge dialog, touched before the sign-in')
      if (!touches) {
        await tap(page, 'ack-cancel', 5000) // the flow below acknowledges from the banner
        await hidden(page, 'ack-dialog', 5000, 'the acknowledge dialog after cancelling')
        return `alert ${signedOutAlert}`
      }
      // The panel: confirm at once, the last touch counted.
      await shot(page, vp, 'ack-dialog')
      await touches.tap(sel('ack-confirm'), 'confirm')
      await hidden(page, 'ack-dialog', 10_000, 'the acknowledge dialog after confirming')
      await hidden(page, 'critical-banner', 10_000, 'the critical banner after acknowledging')
      await lang.alarmStopped(page)
      const seen = await touches.seen()
      const n = touches.taps.length
      if (seen !== n) throw new Failure(`the page saw ${seen} touches, the test made ${n} (${touches.taps.join(', ')})`)
      if (n > MAX_TOUCHES_TO_ACK) throw new Failure(`${n} touches from the live view's banner to an acknowledged critical alarm, want at most ${MAX_TOUCHES_TO_ACK}: ${touches.taps.join(', ')}`)
      alertId = signedOutAlert
      touchNote = `${n} touches from the live view's banner to the acknowledged alarm (at most ${MAX_TOUCHES_TO_ACK}): ${touches.taps.join(', ')}`
      return `alert ${signedOutAlert}; ${touchNote}`
    })
    if (!touches) await step(tag, 'critical banner appears', async () => {
      const bannerVisibleAtSignIn = await page.locator(sel('critical-banner')).first().isVisible()
      const left = CRIT_AT_S * 1000 - (Date.now() - d.startedAt)
      await visible(page, 'critical-banner', Math.max(0, left) + 15_000, 'the critical banner [data-testid=critical-banner]')
      await visible(page, 'banner-ack', 2000, "the banner's acknowledge button [data-testid=banner-ack] (OPERATOR)")
      if (!(await page.locator(sel('home')).first().isVisible())) throw new Failure('the banner showed, but not over the home screen')
      // The alert frame and the reading frame of the same poll may arrive in either order.
      const p1 = page.locator(sel('tile-P1')).first()
      await until(`P1's tile to show data-status="critical" with the banner (it has "${await p1.getAttribute('data-status')}")`,
        async () => (await p1.getAttribute('data-status', { timeout: 1000 })) === 'critical', 3000)
      alertId = (await page.locator(sel('critical-banner')).first().getAttribute('data-alert-id')) || ''
      const countLoc = page.locator(sel('alert-count')).first()
      const count = await until("the header's alert count to show an unacknowledged alert", async () => {
        const c = await text(countLoc, 1000)
        return /[1-9]/.test(c) ? c : null
      }, 3000)
      await shot(page, vp, 'critical-banner')
      const tone = await lang.alarmSounds(page)
      if (name === 'lcd') await lang.silence(page) // the phone hears it stop on acknowledge
      return `${(Date.now() - d.startedAt) / 1000 | 0} s after daemon start${bannerVisibleAtSignIn ? ' (already there at sign-in)' : ''}; alert count "${count}"; ${tone}`
    })
    await step(tag, touches ? 'acknowledged: the alert count' : 'acknowledge from the banner', async () => {
      if (!touches) {
        await tap(page, 'banner-ack', 5000)
        await visible(page, 'ack-dialog', 5000)
        const comment = page.locator(sel('ack-comment')).first()
        await comment.tap({ timeout: 5000 })
        await comment.fill('e2e: P1 checked', { timeout: 5000 })
        await shot(page, vp, 'ack-dialog')
        await tap(page, 'ack-confirm', 5000)
        await hidden(page, 'ack-dialog', 10_000, 'the acknowledge dialog after confirming')
        await hidden(page, 'critical-banner', 10_000, 'the critical banner after acknowledging')
        await lang.alarmStopped(page)
      }
      const count = page.locator(sel('alert-count')).first()
      // data-count is the number; the text must not say '?' (the alerts not loaded).
      await until("the header's alert count to show no unacknowledged alert", async () =>
        (await count.getAttribute('data-count', { timeout: 1000 })) === '0' && !(await text(count, 1000)).includes('?'), 5000)
      return `alert count now "${await text(count)}"${touchNote ? '; ' + touchNote : ''}`
    })
    await step(tag, 'alert acknowledged by operator1 on the Alerts screen', async () => {
      await nav(page, 'alerts')
      const rows = page.locator(alertId ? `${sel('alert-row')}[data-alert-id="${alertId}"]` : `${sel('alert-row')}[data-type="CRITICAL"]`)
      const row = await until(`the alert row${alertId ? ` data-alert-id=${alertId}` : ''} of type CRITICAL in state ACTIVE_ACK naming operator1`, async () => {
        const n = await rows.count()
        for (let i = 0; i < n; i++) {
          const r = rows.nth(i)
          const st = await r.getAttribute('data-state', { timeout: 1000 })
          const tx = await text(r, 1000)
          const ty = await r.getAttribute('data-type', { timeout: 1000 })
          if (st === 'ACTIVE_ACK' && ty === 'CRITICAL' && tx.includes('operator1')) return { st, tx }
        }
        return null
      }, 10_000).catch(async (e) => {
        const all = await page.locator(sel('alert-row')).evaluateAll((els) =>
          els.map((el) => `[id=${el.dataset.alertId} state=${el.dataset.state} type=${el.dataset.type}] ${el.textContent.replace(/\s+/g, ' ').trim()}`),
        ).catch(() => [])
        throw new Failure(`${e.message}; rows: ${all.length ? all.join(' | ') : 'none'}`)
      })
      await shot(page, vp, 'alerts')
      return `"${row.tx.slice(0, 160)}"`
    })
    await step(tag, 'trend chart has points', async () => {
      await nav(page, 'trends')
      const chart = page.locator(sel('trend-chart')).first()
      await visible(page, 'trend-chart', 10_000)
      for (const r of ['15m', '1h', '8h', '24h', '7d']) await visible(page, `range-${r}`, 2000)
      const n = await until('the trend chart to have data-points > 1', async () => {
        const p = Number(await chart.getAttribute('data-points', { timeout: 1000 }))
        return p > 1 ? p : null
      }, 15_000)
      await sleep(300) // let the chart's canvas paint before the screenshot
      await shot(page, vp, 'trends')
      return `${n} points of ${await chart.getAttribute('data-sensor')}`
    })

    await step(tag, "tap P2's tile: its trend, then its alerts, filtered", () => tileToTrendAndAlerts(page, vp))

    // 3. The connection is lost and comes back, without a reload.
    await step(tag, 'back to home', async () => {
      await nav(page, 'home')
      await checkTiles(page)
    })
    const marker = await page.evaluate(() => (window.__e2eNoReload = Math.random()))
    await step(tag, 'daemon stopped: connection-lost overlay, reconnects fail', async () => {
      watch.outage = true
      const t = Date.now()
      await d.stop()
      await visible(page, 'connection-lost', 10_000, 'the connection-lost overlay [data-testid=connection-lost]')
      const ms = Date.now() - t
      await shot(page, vp, 'connection-lost')
      // Keep the daemon down until the page has tried to reconnect at least once and failed,
      // so the recovery below goes through the backoff.
      await until('a reconnect attempt (a new WebSocket) that fails while the daemon is down', () => watch.sockets.some((s) => s.at > t && s.failed), 15_000)
      await visible(page, 'connection-lost', 1000, 'the connection-lost overlay after a failed reconnect')
      return `overlay after ${ms} ms; first failed reconnect ${watch.sockets.find((s) => s.at > t).at - t} ms after the stop`
    })
    await step(tag, 'daemon started again: overlay goes, values come again', async () => {
      const ready = await d.start(normal)
      const t = Date.now()
      await hidden(page, 'connection-lost', 20_000, 'the connection-lost overlay after the daemon came back')
      const ms = Date.now() - t
      const same = await page.evaluate(() => window.__e2eNoReload)
      if (same !== marker) throw new Failure('the page was reloaded while reconnecting (it must recover by itself)')
      await checkTiles(page)
      const moved = await valueChanges(page)
      watch.outage = false
      await shot(page, vp, 'reconnected')
      return `daemon ready in ${ready} ms, overlay gone ${ms} ms later; ${moved}; ${watch.allowed} expected connection errors ignored${watch.allowedSample ? ` (such as "${watch.allowedSample.slice(0, 110)}")` : ''}`
    })

    await step(tag, 'daemon hangs (SIGSTOP): readings\' age and connection lost within 3 s, then SIGCONT', () => lang.hungDaemon(page, vp, d, watch))

    // 4. Once: navigation to first live values, with 4x CPU throttling, already signed in.
    if (measure) {
      await step(tag, 'first live values with 4x CPU throttling', async () => {
        const cdp = await context.newCDPSession(page)
        await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 })
        const t = performance.now()
        try {
          await page.goto(d.origin + '/', { timeout: 30_000, waitUntil: 'commit' })
          // Checked in the page on every animation frame: cheaper and finer than polling from here.
          await page.waitForFunction(
            () => {
              const el = document.querySelector('[data-testid="tile-P1"] [data-testid="value"]')
              return !!el && /\d/.test(el.textContent || '') && /^[-−+]?[\d\s\u00a0\u202f]+([.,]\d+)?$/.test(el.textContent.trim())
            },
            undefined,
            { polling: 'raf', timeout: 30_000 },
          ).catch(() => {
            throw new Failure("P1's value did not show a number within 30 s of navigating to / (signed in, 4x CPU throttling)")
          })
        } finally {
          await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 }).catch(() => {})
          await cdp.detach().catch(() => {})
        }
        const ms = Math.round(performance.now() - t)
        measure.ms = ms
        console.log(`ui: first live values in ${ms} ms (4x CPU throttling)`)
        await fsp.mkdir(OUT, { recursive: true })
        await fsp.writeFile(path.join(OUT, 'first-values.json'), JSON.stringify({ first_values_ms: ms }) + '\n')
        await noTokenStored(page)
        return `${ms} ms`
      })
    }
    // 5. A critical excursion that ends before anyone acknowledges it: the banner says it
    // cleared and when, the tile is normal again, and acknowledge-all on the Alerts screen
    // takes the banner away.
    await step(tag, `restart the daemon with P1 critical from ${CLEAR_FROM_S} s to ${CLEAR_TO_S} s`, async () => {
      watch.outage = true
      await d.stop()
      const ms = await d.start(cleared)
      return `ready in ${ms} ms`
    })
    await step(tag, 'a cleared, unacknowledged alarm says it cleared and when', async () => {
      const banner = page.locator(`${sel('critical-banner')}[data-state="CLEARED_UNACK"]`).first()
      await banner.waitFor({ state: 'visible', timeout: 30_000 }).catch(() => {
        throw new Failure('no banner of a cleared, unacknowledged alarm ([data-testid=critical-banner][data-state=CLEARED_UNACK]) within 30 s of the restart')
      })
      watch.outage = false
      const words = await text(page.locator(sel('banner-cleared')).first())
      if (!/\d\d:\d\d:\d\d/.test(words)) throw new Failure(`the cleared banner should say when it cleared, it says "${words}"`)
      if (!(await banner.locator('[data-shape][data-cleared]').count())) throw new Failure('the cleared banner\'s shape is not hollow ([data-cleared])')
      const p1 = page.locator(sel('tile-P1')).first()
      await until("P1's tile to be normal again", async () => (await p1.getAttribute('data-status', { timeout: 1000 })) === 'normal', 5000)
      await shot(page, vp, 'banner-cleared')
      return `"${words}"; P1 normal`
    })
    await step(tag, 'the acknowledge dialog: a tap outside leaves it open; the keyboard; Cancel', async () => {
      await tap(page, 'banner-ack', 5000)
      await visible(page, 'ack-dialog', 5000)
      // A tap outside the dialog (a glove brushing the panel) must not close it.
      await page.touchscreen.tap(3, vp.context.viewport.height - 3)
      await sleep(200)
      await visible(page, 'ack-dialog', 1000, 'the acknowledge dialog after a tap outside it (only Cancel or Acknowledge may close it)')
      if (vp.osk) {
        await page.locator(sel('ack-comment')).first().tap({ timeout: 5000 })
        await visible(page, 'osk', 5000, 'the on-screen keyboard of the comment')
        await shot(page, vp, 'ack-dialog-typing')
        await page.locator(`${sel('osk')} [data-key="enter"]`).first().tap({ timeout: 5000 })
      }
      await tap(page, 'ack-cancel', 5000)
      await hidden(page, 'ack-dialog', 5000, 'the acknowledge dialog after Cancel')
    })
    await step(tag, 'acknowledge all on the Alerts screen', async () => {
      await nav(page, 'alerts')
      await visible(page, 'ack-all', 5000, 'the acknowledge-all button [data-testid=ack-all]')
      await shot(page, vp, 'alerts-ack-all')
      await tap(page, 'ack-all', 5000)
      await hidden(page, 'critical-banner', 10_000, 'the critical banner after acknowledging all')
      await hidden(page, 'ack-all', 5000, 'the acknowledge-all button once nothing waits')
      await nav(page, 'home')
    })
    await step(tag, 'sign out', () => signOut(page))
    if (measure) await step(tag, 'idle timeout: back to the live view', () => idleBackToLiveView(browser, vp, watch))

    // 6. The API reference renders from the daemon alone.
    await step(tag, 'API reference (/api/redoc) renders offline', () => apiReference(context, vp, watch))

    if (watch.foreign.length) {
      throw Object.assign(new Failure(`requests to another origin than ${d.origin}:\n  ${[...new Set(watch.foreign)].join('\n  ')}`), { step: `${tag}: checks` })
    }
    return watch
  } catch (e) {
    e.daemonLog = d.logFile
    e.watch = watch
    if (page) {
      await shot(page, vp, 'FAILED', { audited: false }).then(
        () => (e.shot = path.join(shotDir(vp), 'FAILED.png')),
        () => {},
      )
    }
    throw e
  } finally {
    if (context) await context.close().catch(() => {})
    await d.stop().catch(() => d.kill())
  }
}

// ---------------------------------------------------------------------------------------------
// Main

let browser = null
let tmpDir = ''
let keep = false
let cleaning = null
let interrupted = ''

/** cleanup kills the daemons, closes the browser and removes the work dir, once. */
function cleanup() {
  cleaning ??= (async () => {
    for (const d of daemons) d.kill()
    if (browser) await Promise.race([browser.close().catch(() => {}), sleep(5000)])
    if (tmpDir && !keep) await fsp.rm(tmpDir, { recursive: true, force: true }).catch(() => {})
  })()
  return cleaning
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, async () => {
    if (interrupted) return
    interrupted = sig
    console.error(`\ne2e: ${sig}: stopping the daemon and the browser`)
    await cleanup()
    process.exit(128 + os.constants.signals[sig])
  })
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  keep = args.keep
  const exe = process.env.CHROMIUM || '/usr/bin/chromium'
  if (!fs.existsSync(exe)) {
    console.error(`e2e: no browser at ${exe}: install the Debian package chromium (apt-get install -y --no-install-recommends chromium), or set CHROMIUM to a Chromium binary`)
    process.exit(2)
  }
  if (!fs.existsSync(args.daemon)) usage(`no daemon binary at ${args.daemon} (run make build)`)

  tmpDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'maskservice-e2e-'))
  await fsp.writeFile(path.join(tmpDir, 'normal.toml'), sensorsToml(''))
  const at = CRIT_AT_S
  await fsp.writeFile(path.join(tmpDir, 'cleared.toml'), sensorsToml(
    `[[0.0, 5.0], [${CLEAR_FROM_S.toFixed(1)}, 5.0], [${(CLEAR_FROM_S + 1e-6).toFixed(6)}, 9.6], [${CLEAR_TO_S.toFixed(1)}, 9.6], [${(CLEAR_TO_S + 1e-6).toFixed(6)}, 5.0]]`))
  await fsp.writeFile(path.join(tmpDir, 'critical.toml'), sensorsToml(`[[0.0, 5.0], [${at.toFixed(1)}, 5.0], [${(at + 1e-6).toFixed(6)}, 9.6]]`))
  LANG = args.lang
  for (const vp of Object.values(VIEWPORTS)) await fsp.rm(shotDir(vp), { recursive: true, force: true })
  await fsp.rm(path.join(OUT, 'first-values.json'), { force: true })
  await fsp.rm(path.join(OUT, `hmi-audit${args.lang === 'pl' ? '' : '-' + args.lang}.json`), { force: true })
  log('', `daemon ${args.daemon}${args.uiDir ? ` (UI from ${args.uiDir})` : ''}; browser ${exe}; work dir ${tmpDir}`)

  browser = await chromium.launch({
    executablePath: exe,
    headless: !process.env.E2E_HEADED,
    timeout: 30_000,
    // Our own handlers close the browser, kill the daemons and remove the work dir, then exit.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', lang.AUTOPLAY].filter((a) => !(process.env.E2E_HEADED && a === '--headless=new')),
  })
  log('', `chromium ${browser.version()}`)

  lang.init({ Failure, shot, until, visible, hidden, sel, sleep, tap })
  const measure = {}
  const names = args.only ? [args.only] : ['lcd', 'phone']
  const watches = []
  for (const n of names) watches.push(await runViewport(browser, args, tmpDir, n, n === 'lcd' ? measure : null))

  const errors = watches.flatMap((w) => w.errors.map((e) => `[${w.tag}] ${e}`))
  if (errors.length) {
    results.push({ tag: 'all', name: 'no console errors', ok: false, ms: 0, note: `${errors.length} errors` })
    throw Object.assign(new Failure(`console errors or uncaught exceptions in the page:\n  ${errors.join('\n  ')}`), { step: 'console' })
  }
  results.push({ tag: 'all', name: 'no console errors, no foreign requests, no token in storage', ok: true, ms: 0, note: '' })
  await fsp.writeFile(path.join(OUT, `hmi-audit${LANG === 'pl' ? '' : '-' + LANG}.json`), JSON.stringify(audits, null, 1) + '\n')
  const bad = audits.filter((a) => a.violations.length && !a.waived)
  const waived = audits.filter((a) => a.violations.length && a.waived)
  if (waived.length) log('', `audit: ${waived.reduce((n, a) => n + a.violations.length, 0)} violations on waived screens (${[...new Set(waived.map((a) => a.waived))].join('; ')})`)
  if (bad.length) {
    results.push({ tag: 'all', name: 'HMI audit (e2e/hmi-audit.mjs)', ok: false, ms: 0, note: `${bad.length} screens` })
    throw Object.assign(new Failure(`the HMI audit found violations:\n${bad.map((a) => `[${a.size}]\n${report(a.screen, a)}`).join('\n')}`), { step: 'HMI audit' })
  }
  results.push({ tag: 'all', name: `HMI audit: ${audits.length} screens, no violation`, ok: true, ms: 0, note: '' })
  return measure
}

function summary(ok) {
  console.log('\n== e2e summary ==')
  for (const r of results) console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.tag.padEnd(14)} ${r.name}${r.ms ? ` (${r.ms} ms)` : ''}`)
  console.log(`  total ${((Date.now() - T0) / 1000).toFixed(1)} s; screenshots in ${path.relative(process.cwd(), path.join(OUT, 'screenshots')) || '.'}`)
  if (keep && tmpDir) console.log(`  work dir kept: ${tmpDir} (configs, daemon logs, data)`)
  console.log(ok ? 'e2e: PASS' : 'e2e: FAIL')
}

const overall = setTimeout(async () => {
  console.error(`\ne2e: FAIL: the run took longer than ${TOTAL_TIMEOUT_MS / 1000} s; stopping`)
  summary(false)
  await cleanup()
  process.exit(1)
}, TOTAL_TIMEOUT_MS)

try {
  const m = await main()
  summary(true)
  await cleanup()
  clearTimeout(overall)
  process.exit(0)
} catch (e) {
  clearTimeout(overall)
  if (interrupted) {
    // The signal handler ends the run; the browser closing under the flow made this error.
    await cleanup()
    await sleep(60_000) // the handler exits first
  }
  console.error(`\ne2e: FAIL${e.step ? ` in ${e.step}` : ''}: ${e instanceof Failure ? e.message : e?.stack || e}`)
  if (e.watch?.errors?.length) console.error(`console errors so far:\n  ${e.watch.errors.join('\n  ')}`)
  if (e.shot) console.error(`screenshot of the page at the failure: ${path.relative(process.cwd(), e.shot)}`)
  if (e.daemonLog) console.error(`--- tail of the daemon's log (${e.daemonLog}) ---\n${logTail(e.daemonLog)}\n---`)
  summary(false)
  await cleanup()
  process.exit(1)
}
