// The path of a sparkline.

/** sparkPath draws [time ms, value] points between t0 and t1 into a w x h box as an SVG path;
 *  a null value, or more than maxGap ms without a point (the page or the daemon was away),
 *  breaks the line; values outside the range are clamped to its edges. */
export function sparkPath(
  points: readonly (readonly [number, number | null])[],
  range: readonly [number, number],
  t0: number,
  t1: number,
  w: number,
  h: number,
  maxGap = Infinity,
): string {
  const [lo, hi] = range
  if (!(t1 > t0) || !(hi > lo)) return ''
  let d = ''
  let pen = false
  let prev = -Infinity
  for (const [t, v] of points) {
    if (t < t0 || t > t1) continue
    if (t - prev > maxGap) pen = false
    prev = t
    if (v === null || !Number.isFinite(v)) {
      pen = false
      continue
    }
    const x = ((t - t0) / (t1 - t0)) * w
    const y = h - ((Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * h
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}`
    pen = true
  }
  return d
}
