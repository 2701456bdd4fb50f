import type { StateSlot, StateStore, StateTable } from './state-database.ts'

/** How a state value is written to and read from the store (JSON-able). */
export interface StateCodec<V> {
  encode(value: V): unknown
  decode(snapshot: unknown): V
}

export interface KeyedStateOptions<V> {
  readonly codec: StateCodec<V>
  /** The event time an entry expires by (deleteExpired, expiring); undefined or NaN: never. */
  readonly timeOf: (value: V) => number | undefined
}

/**
 * One operator's keyed state: a bounded cache of decoded values in memory in front of the operator's rows in
 * the state store (SQLite, see StateDatabase). Values may be mutated in place; call touch() after doing so.
 * Changed values stay in memory until written into the batch's transaction, so the cache can exceed its
 * bound by what one batch touches; after each commit it is trimmed back, keeping what the batch used.
 */
export class KeyedState<V> implements StateStore {
  readonly id: string
  readonly #table: StateTable
  readonly #options: KeyedStateOptions<V>
  /** Decoded entries kept in memory between commits; the rest is read from the store when used. */
  readonly #cacheEntries: number
  readonly #cache = new Map<string, V>()
  /** Changed since the last write (their values are in the cache). */
  #dirty = new Set<string>()
  /** Deleted since the last write. */
  #deleted = new Set<string>()
  /** Used this batch: kept in memory when the cache is trimmed. */
  #hot = new Set<string>()
  /** Looked up this batch and not found, so a set() that follows needs no second look-up. */
  #absent = new Set<string>()
  #size: number

  constructor(slot: StateSlot, options: KeyedStateOptions<V>) {
    this.id = slot.table.op
    this.#table = slot.table
    this.#cacheEntries = slot.cacheEntries
    this.#options = options
    this.#size = slot.table.count()
  }

  get size(): number {
    return this.#size
  }

  /** Decoded values in memory now. */
  get cachedEntries(): number {
    return this.#cache.size
  }

  get(key: string): V | undefined {
    const cached = this.#cache.get(key)
    if (cached !== undefined) {
      this.#hot.add(key)
      return cached
    }
    if (this.#deleted.has(key) || this.#absent.has(key)) return undefined
    const row = this.#table.get(key)
    if (row === undefined) {
      this.#absent.add(key)
      return undefined
    }
    const value = this.#options.codec.decode(JSON.parse(row.value))
    this.#cache.set(key, value)
    this.#hot.add(key)
    return value
  }

  set(key: string, value: V): void {
    if (!this.#exists(key)) this.#size++
    this.#absent.delete(key)
    this.#deleted.delete(key)
    this.#cache.set(key, value)
    this.#dirty.add(key)
    this.#hot.add(key)
  }

  /** Marks a key's value changed after it was mutated in place. */
  touch(key: string): void {
    this.#dirty.add(key)
    this.#hot.add(key)
  }

  delete(key: string): void {
    if (!this.#exists(key)) return
    this.#size--
    this.#cache.delete(key)
    this.#dirty.delete(key)
    this.#hot.delete(key)
    this.#deleted.add(key)
  }

  /** Deletes every entry whose time is below `bound` (or at it, when `inclusive`); returns how many. */
  deleteExpired(bound: number, inclusive = false): number {
    let removed = 0
    // Changed in memory: their own times decide (the stored rows may be older).
    for (const key of [...this.#dirty]) {
      if (this.#expires(this.#cache.get(key) as V, bound, inclusive)) {
        this.delete(key)
        removed++
      }
    }
    // Stored rows of keys not changed since: deleted at once. A changed key whose stored row goes with them
    // is written again with its value when the changes are.
    for (const key of this.#table.deleteExpiring(bound, inclusive)) {
      if (this.#dirty.has(key) || this.#deleted.has(key)) continue
      this.#cache.delete(key)
      this.#hot.delete(key)
      this.#size--
      removed++
    }
    return removed
  }

  /** The entries whose time is below `bound` (or at it, when `inclusive`), by time then key, decoded. */
  expiring(bound: number, inclusive = false): [string, V][] {
    const found: { key: string; time: number; value: V }[] = []
    for (const key of this.#dirty) {
      const value = this.#cache.get(key) as V
      if (this.#expires(value, bound, inclusive))
        found.push({ key, time: this.#options.timeOf(value) as number, value })
    }
    for (const row of this.#table.expiring(bound, inclusive)) {
      if (this.#dirty.has(row.key) || this.#deleted.has(row.key)) continue
      let value = this.#cache.get(row.key)
      if (value === undefined) {
        value = this.#options.codec.decode(JSON.parse(row.value)) as V
        this.#cache.set(row.key, value)
      }
      found.push({ key: row.key, time: row.time as number, value })
    }
    found.sort((a, b) => a.time - b.time || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    return found.map(({ key, value }) => {
      this.#hot.add(key)
      return [key, value]
    })
  }

  writeChanges(): void {
    for (const key of this.#deleted) this.#table.delete(key)
    const { codec, timeOf } = this.#options
    for (const key of this.#dirty) {
      const value = this.#cache.get(key) as V
      const time = timeOf(value)
      this.#table.put(
        key,
        time === undefined || Number.isNaN(time) ? null : time,
        JSON.stringify(codec.encode(value)),
      )
    }
    this.#dirty = new Set()
    this.#deleted = new Set()
  }

  afterBatch(): void {
    if (this.#dirty.size + this.#deleted.size <= this.#cacheEntries) return
    this.writeChanges()
    this.#trim()
  }

  afterCommit(): void {
    this.#trim()
    this.#hot = new Set()
    this.#absent = new Set()
  }

  #trim(): void {
    const limit = this.#cacheEntries
    if (this.#cache.size > limit) {
      // Down to 90 % of the bound, so that a full cache is not trimmed after every batch: first what the batch
      // did not use, oldest first (a Map iterates in insertion order), then, if the batch alone used more than
      // the bound, the oldest of the rest.
      const target = Math.floor(limit * 0.9)
      for (const key of this.#cache.keys()) {
        if (this.#cache.size <= target) break
        if (!this.#hot.has(key)) this.#cache.delete(key)
      }
      for (const key of this.#cache.keys()) {
        if (this.#cache.size <= limit) break
        this.#cache.delete(key)
      }
    }
  }

  afterRestore(): void {
    this.#cache.clear()
    this.#dirty = new Set()
    this.#deleted = new Set()
    this.#hot = new Set()
    this.#absent = new Set()
    this.#size = this.#table.count()
  }

  #expires(value: V, bound: number, inclusive: boolean): boolean {
    const time = this.#options.timeOf(value)
    if (time === undefined || Number.isNaN(time)) return false
    return inclusive ? time <= bound : time < bound
  }

  #exists(key: string): boolean {
    if (this.#cache.has(key)) return true
    if (this.#deleted.has(key) || this.#absent.has(key)) return false
    return this.#table.get(key) !== undefined
  }
}
