/**
 * A small seeded PRNG (sfc32, seeded through cyrb128) and the sampling helpers the simulator needs. Not
 * cryptographic: it only has to be fast, well mixed and identical on every machine for the same seed.
 */
export class Random {
  #a: number
  #b: number
  #c: number
  #d: number

  /** `stream` names an independent sequence for the same seed (the model and the injection use two). */
  constructor(seed: number | string, stream = '') {
    const [a, b, c, d] = cyrb128(`${seed}/${stream}`)
    this.#a = a
    this.#b = b
    this.#c = c
    this.#d = d
    for (let i = 0; i < 12; i++) this.u32()
  }

  /** Next unsigned 32-bit integer (sfc32). */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0
    this.#d = (this.#d + 1) | 0
    this.#a = this.#b ^ (this.#b >>> 9)
    this.#b = (this.#c + (this.#c << 3)) | 0
    this.#c = (this.#c << 21) | (this.#c >>> 11)
    this.#c = (this.#c + t) | 0
    return t >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** Uniform integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1)
  }

  /** True with probability p. Always consumes exactly one draw, whatever p is. */
  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }

  /** Exponentially distributed with the given mean (think times, gaps between sessions). */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean
  }

  /** `length` lowercase hex digits. */
  hex(length: number): string {
    let out = ''
    while (out.length < length) out += hex8(this.u32())
    return out.length === length ? out : out.slice(0, length)
  }

  /** A UUID with version-4 layout whose 122 random bits come from this generator (so from the seed). */
  uuid(): string {
    const a = hex8(this.u32())
    const b = hex8(this.u32())
    const c = hex8(this.u32())
    const d = hex8(this.u32())
    const variant = HEX[(Number.parseInt(c[0]!, 16) & 0x3) | 0x8]!
    return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-${variant}${c.slice(1, 4)}-${c.slice(4, 8)}${d}`
  }
}

const HEX = '0123456789abcdef'
const BYTE_HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** A 32-bit unsigned integer as 8 hex digits. */
function hex8(n: number): string {
  return (
    BYTE_HEX[n >>> 24]! + BYTE_HEX[(n >>> 16) & 0xff]! + BYTE_HEX[(n >>> 8) & 0xff]! + BYTE_HEX[n & 0xff]!
  )
}

/** 128-bit string hash (four 32-bit words), the usual seeder for sfc32. */
function cyrb128(text: string): [number, number, number, number] {
  let h1 = 1779033703
  let h2 = 3144134277
  let h3 = 1013904242
  let h4 = 2773480762
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i)
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067)
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233)
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213)
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179)
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067)
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233)
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213)
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179)
  h1 ^= h2 ^ h3 ^ h4
  h2 ^= h1
  h3 ^= h1
  h4 ^= h1
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0]
}

/** Picks from a fixed list with fixed weights (binary search over the cumulative weights). */
export class Weighted<T> {
  readonly #items: readonly T[]
  readonly #cumulative: Float64Array

  constructor(entries: readonly (readonly [T, number])[]) {
    if (entries.length === 0) throw new Error('internal: Weighted needs at least one entry')
    this.#items = entries.map(([item]) => item)
    this.#cumulative = new Float64Array(entries.length)
    let total = 0
    entries.forEach(([, weight], i) => {
      total += weight
      this.#cumulative[i] = total
    })
    for (let i = 0; i < entries.length; i++) this.#cumulative[i]! /= total
  }

  get items(): readonly T[] {
    return this.#items
  }

  /** Index of the entry a uniform draw in [0, 1) falls on. */
  indexOf(u: number): number {
    const c = this.#cumulative
    let lo = 0
    let hi = c.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (u < c[mid]!) hi = mid
      else lo = mid + 1
    }
    return lo
  }

  pick(random: Random): T {
    return this.#items[this.indexOf(random.next())]!
  }
}

/**
 * Zipf-distributed ranks: rank k (0-based) is drawn with probability proportional to 1 / (k + 1)^exponent,
 * so a few items get most of the traffic and a long tail gets a little, like pages and products of a shop.
 */
export class Zipf {
  readonly n: number
  readonly exponent: number
  readonly #weighted: Weighted<number>

  constructor(n: number, exponent = 1.1) {
    if (!(Number.isInteger(n) && n > 0)) throw new Error(`internal: Zipf needs n >= 1, got ${n}`)
    this.n = n
    this.exponent = exponent
    this.#weighted = new Weighted(Array.from({ length: n }, (_, k) => [k, 1 / (k + 1) ** exponent] as const))
  }

  /** A rank in [0, n); 0 is the most popular. */
  sample(random: Random): number {
    return this.#weighted.indexOf(random.next())
  }

  /** The probability of rank k. */
  probability(k: number): number {
    let total = 0
    for (let i = 0; i < this.n; i++) total += 1 / (i + 1) ** this.exponent
    return 1 / (k + 1) ** this.exponent / total
  }
}
