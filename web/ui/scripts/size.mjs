// Prints the gzipped size of the built JS and CSS and fails the build over the budget of the
// UI issue: 150 KB together, everything the LCD loads from the device.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

const BUDGET = 150 * 1024
const dir = new URL('../dist/assets/', import.meta.url).pathname
let js = 0
let css = 0
let raw = 0
for (const name of readdirSync(dir)) {
  const body = readFileSync(join(dir, name))
  const gz = gzipSync(body, { level: 9 }).length
  raw += statSync(join(dir, name)).size
  if (name.endsWith('.js')) js += gz
  else if (name.endsWith('.css')) css += gz
}
const kb = (n) => (n / 1024).toFixed(1) + ' KB'
console.log(`ui: gzipped JS ${kb(js)} + CSS ${kb(css)} = ${kb(js + css)} (budget ${kb(BUDGET)}; ${kb(raw)} before gzip)`)
if (js + css > BUDGET) {
  console.error(`ui: over the budget by ${kb(js + css - BUDGET)}`)
  process.exit(1)
}
