import { Histogram, type HistogramConfiguration, type LabelValues } from 'prom-client'

interface Series<T extends string> {
  readonly labels: LabelValues<T>
  readonly counts: number[]
  sum: number
  count: number
}

type Exported<T extends string> = Awaited<ReturnType<Histogram<T>['get']>>
type ExportedValue<T extends string> = Exported<T>['values'][number]

/** prom-client types `type` as an enum that its JavaScript does not export: the string is what it uses. */
const HISTOGRAM = 'histogram' as unknown as Exported<string>['type']

/** Labels plus the histogram's own `le`, which prom-client's types leave out of the label set. */
function withBound<T extends string>(labels: LabelValues<T>, le: number | '+Inf'): LabelValues<T> {
  return { ...labels, le } as LabelValues<T>
}

/**
 * A Prometheus histogram fed with counts that were already bucketed elsewhere: the runtime buckets the
 * latency of every record of a batch in one pass, and adding those counts here costs one step per bucket
 * instead of one `observe()` per record. Exports exactly like prom-client's own histogram.
 */
export class BucketHistogram<T extends string> extends Histogram<T> {
  readonly #name: string
  readonly #help: string
  readonly #bounds: readonly number[]
  readonly #series = new Map<string, Series<T>>()

  constructor(config: HistogramConfiguration<T> & { readonly buckets: number[] }) {
    super(config)
    this.#name = config.name
    this.#help = config.help
    this.#bounds = [...config.buckets]
  }

  /**
   * Adds `counts[i]` observations to bucket i (above bound i-1, up to bound i); the entry after the last
   * bound counts observations above every bound. `sum` is the total of the observed values.
   */
  add(labels: LabelValues<T>, counts: readonly number[], sum: number): void {
    if (counts.length !== this.#bounds.length + 1) {
      throw new Error(
        `internal: ${this.#bounds.length + 1} bucket counts expected for ${this.#name}, got ${counts.length}`,
      )
    }
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)))
    let series = this.#series.get(key)
    if (!series) {
      series = { labels: { ...labels }, counts: new Array<number>(counts.length).fill(0), sum: 0, count: 0 }
      this.#series.set(key, series)
    }
    for (let i = 0; i < counts.length; i++) {
      series.counts[i]! += counts[i]!
      series.count += counts[i]!
    }
    series.sum += sum
  }

  override async get(): Promise<Exported<T>> {
    const name = this.#name
    const values: ExportedValue<T>[] = []
    for (const series of this.#series.values()) {
      let cumulative = 0
      for (const [i, bound] of this.#bounds.entries()) {
        cumulative += series.counts[i]!
        values.push({
          labels: withBound(series.labels, bound),
          value: cumulative,
          metricName: `${name}_bucket`,
        })
      }
      values.push(
        { labels: withBound(series.labels, '+Inf'), value: series.count, metricName: `${name}_bucket` },
        { labels: series.labels, value: series.sum, metricName: `${name}_sum` },
        { labels: series.labels, value: series.count, metricName: `${name}_count` },
      )
    }
    return {
      name,
      help: this.#help,
      type: HISTOGRAM,
      aggregator: 'sum',
      collect: () => {},
      values,
    }
  }

  /** prom-client's registry prefers this to get() when rendering the text format. */
  getForPromString() {
    return this.get()
  }

  override reset(): void {
    super.reset()
    // The base constructor calls reset() before this class's fields exist.
    if (#series in this) this.#series.clear()
  }
}
