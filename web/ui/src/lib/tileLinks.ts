// Where a sensor's tile leads: its trend, and from there its alerts. The sensor travels in
// the query (/trends?sensor=P2, /alerts?sensor=P2), so a link, a reload and the back button
// all keep it.
import type { LocationQuery, RouteLocationRaw } from 'vue-router'

/** trendLink is the route to a sensor's trend. */
export function trendLink(id: string): RouteLocationRaw {
  return { name: 'trends', query: { sensor: id } }
}

/** alertsLink is the route to the alerts screen filtered to one sensor. */
export function alertsLink(id: string): RouteLocationRaw {
  return { name: 'alerts', query: { sensor: id } }
}

/** sensorFilter is the sensor a query names, if it is one of ids (while ids are not known
 *  yet, any name is kept); '' for none, so a stale or made-up link shows every alert. */
export function sensorFilter(query: LocationQuery, ids: readonly string[]): string {
  const s = query.sensor
  if (typeof s !== 'string' || !s) return ''
  return ids.length === 0 || ids.includes(s) ? s : ''
}

/** withSensor is the query with the sensor filter set, or removed for ''; the other keys stay. */
export function withSensor(query: LocationQuery, id: string): LocationQuery {
  const { sensor: _, ...rest } = query
  return id ? { ...rest, sensor: id } : rest
}

/** ofSensor keeps the alerts of one sensor, or all of them for ''. */
export function ofSensor<T extends { sensor_id: string }>(list: readonly T[], id: string): T[] {
  return id ? list.filter((a) => a.sensor_id === id) : list.slice()
}
