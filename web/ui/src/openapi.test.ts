// @vitest-environment node
// The UI's wire enumerations are the server's: each list equals the enum of the field it
// types in the OpenAPI spec (web/openapi.json), so a value the server adds or drops fails here
// rather than showing as nothing on a tile. It runs in node, not happy-dom, whose URL cannot
// name a file to read the spec from.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { QUALITIES, STATUSES } from './stores/live'
import { ALERT_STATES, ALERT_TYPES } from './stores/alerts'
import { ROLES } from './stores/session'
import { DEVICE_STATES } from './lib/device'

interface Schema {
  $ref?: string
  enum?: unknown[]
  properties?: Record<string, Schema>
}

const spec = JSON.parse(readFileSync(new URL('../../openapi.json', import.meta.url), 'utf8')) as {
  components: { schemas: Record<string, Schema> }
}

/** deref follows a schema's $ref (#/components/schemas/Name) to the schema it names. */
function deref(s: Schema): Schema {
  for (let hops = 0; s.$ref; hops++) {
    const name = s.$ref.replace('#/components/schemas/', '')
    const next = spec.components.schemas[name]
    if (!next || hops > 10) throw new Error(`openapi.json: cannot follow ${s.$ref}`)
    s = next
  }
  return s
}

/** fieldEnum is the enum of a schema's field, through $refs. */
function fieldEnum(schema: string, field: string): unknown[] {
  const top = spec.components.schemas[schema]
  if (!top) throw new Error(`openapi.json has no schema ${schema}`)
  const prop = deref(top).properties?.[field]
  if (!prop) throw new Error(`openapi.json: ${schema} has no field ${field}`)
  const values = deref(prop).enum
  if (!values) throw new Error(`openapi.json: ${schema}.${field} is not an enum`)
  return values
}

// Each field the UI reads with one of its enumerations: the readings of GET
// /api/sensors/current, of the WebSocket frames and of the history; alerts (GET /api/alerts
// and the alert frames); the device's state; the signed-in user's role and the sign-in's.
const fields: [string, string, readonly string[]][] = [
  ['CurrentSensor', 'status', STATUSES],
  ['CurrentSensor', 'quality', QUALITIES],
  ['FrameReading', 'status', STATUSES],
  ['FrameReading', 'quality', QUALITIES],
  ['HistoryPoint', 'status', STATUSES],
  ['HistoryPoint', 'quality', QUALITIES],
  ['Alert', 'type', ALERT_TYPES],
  ['Alert', 'state', ALERT_STATES],
  ['DeviceStatus', 'status', DEVICE_STATES],
  ['Me', 'role', ROLES],
  ['LoginRequest', 'role', ROLES],
]

describe('the UI enumerations match openapi.json', () => {
  it.each(fields)('%s.%s', (schema, field, ours) => {
    // Order is the UI's own (the sign-in tiles, the filter list); the values are the server's.
    expect([...ours].sort()).toEqual([...fieldEnum(schema, field)].sort())
    expect(new Set(ours).size).toBe(ours.length)
  })

  it('the lookup fails for a field that is not there', () => {
    expect(() => fieldEnum('Alert', 'no_such_field')).toThrow(/no field/)
  })
})
