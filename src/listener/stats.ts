/** Counts records per event type and renders one line per interval. */
export class TypeCounter {
  #counts = new Map<string, number>()
  #total = 0

  add(type: string): void {
    this.#counts.set(type, (this.#counts.get(type) ?? 0) + 1)
    this.#total++
  }

  /** "HH:MM:SS  total 1234  page_view 800  click 300 …" (types by count, descending), then resets. */
  flushLine(now: Date, seconds: number): string {
    const perSecond = (n: number) => Math.round(n / seconds)
    const types = [...this.#counts].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ${perSecond(n)}`)
    const line = `${now.toISOString().slice(11, 19)}  total ${perSecond(this.#total)}/s${types.length ? `  ${types.join('  ')}` : ''}`
    this.#counts = new Map()
    this.#total = 0
    return line
  }
}
