/** End-to-end latency samples, kept in an HDR histogram (microsecond resolution, 3 significant digits). */
import { build, type Histogram } from 'hdr-histogram-js'

export interface Percentiles {
  readonly count: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  readonly mean: number
}

export class LatencyHistogram {
  readonly method = 'hdr-histogram-js'
  readonly #histogram: Histogram = build({
    lowestDiscernibleValue: 1,
    // Ten minutes in microseconds: anything slower is a failure anyway.
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  })

  /** Records one latency given in milliseconds (fractions kept down to the microsecond). */
  record(ms: number): void {
    this.#histogram.recordValue(Math.max(1, Math.round(ms * 1000)))
  }

  get count(): number {
    return this.#histogram.totalCount
  }

  /** Percentiles in milliseconds. */
  percentiles(): Percentiles {
    const h = this.#histogram
    const ms = (us: number) => Math.round(us) / 1000
    return {
      count: h.totalCount,
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      p999: ms(h.getValueAtPercentile(99.9)),
      max: ms(h.maxValue),
      mean: ms(h.mean),
    }
  }
}
