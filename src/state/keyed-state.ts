/** How a state value is written to and read from a snapshot (JSON-able). */
export interface StateCodec<V> {
  encode(value: V): unknown
  decode(snapshot: unknown): V
}

export interface StateChanges {
  readonly upserts: readonly (readonly [string, unknown])[]
  readonly deletes: readonly string[]
}

/** What the checkpoint needs of an operator's state: changes since the last checkpoint, a full snapshot, restore. */
export interface StateStore {
  /** The operator id: state files are named after it. */
  readonly id: string
  /** Live entries. */
  readonly size: number
  /** Changes since the previous call, encoded; resets the change tracking. */
  drainChanges(): StateChanges
  /** Every entry, encoded: a full snapshot. */
  encodedEntries(): Iterable<readonly [string, unknown]>
  /** Replaces the contents with decoded entries (restore); nothing counts as changed afterwards. */
  load(entries: Iterable<readonly [string, unknown]>): void
  /** Rough size in bytes for progress reports: a sampled estimate, not a measurement. */
  approximateBytes(): number
}

/**
 * One operator's keyed state: a map in memory that remembers which keys changed since the last snapshot,
 * so a checkpoint writes only the delta. Values may be mutated in place; call touch() after doing so.
 */
export class KeyedState<V> implements StateStore {
  readonly id: string
  readonly #codec: StateCodec<V>
  readonly #values = new Map<string, V>()
  #dirty = new Set<string>()
  #deleted = new Set<string>()

  constructor(id: string, codec: StateCodec<V>) {
    this.id = id
    this.#codec = codec
  }

  get size(): number {
    return this.#values.size
  }

  get(key: string): V | undefined {
    return this.#values.get(key)
  }

  set(key: string, value: V): void {
    this.#values.set(key, value)
    this.#dirty.add(key)
    this.#deleted.delete(key)
  }

  touch(key: string): void {
    this.#dirty.add(key)
  }

  delete(key: string): void {
    if (this.#values.delete(key)) {
      this.#dirty.delete(key)
      this.#deleted.add(key)
    }
  }

  entries(): IterableIterator<[string, V]> {
    return this.#values.entries()
  }

  /** Changes since the previous call, encoded; resets the change tracking. */
  drainChanges(): StateChanges {
    const upserts: (readonly [string, unknown])[] = []
    for (const key of this.#dirty) {
      const value = this.#values.get(key)
      if (value !== undefined) upserts.push([key, this.#codec.encode(value)])
    }
    const changes = { upserts, deletes: [...this.#deleted] }
    this.#dirty = new Set()
    this.#deleted = new Set()
    return changes
  }

  /** Every entry, encoded: a full snapshot. */
  *encodedEntries(): Generator<readonly [string, unknown]> {
    for (const [key, value] of this.#values) yield [key, this.#codec.encode(value)]
  }

  /** Replaces the contents with decoded entries (restore); nothing counts as changed afterwards. */
  load(entries: Iterable<readonly [string, unknown]>): void {
    this.#values.clear()
    for (const [key, encoded] of entries) this.#values.set(key, this.#codec.decode(encoded))
    this.#dirty = new Set()
    this.#deleted = new Set()
  }

  /** Rough size in bytes for progress reports: a sampled estimate, not a measurement. */
  approximateBytes(): number {
    let sampled = 0
    let bytes = 0
    for (const [key, value] of this.#values) {
      bytes += key.length * 2 + JSON.stringify(this.#codec.encode(value)).length * 2 + 64
      if (++sampled >= 32) break
    }
    return sampled === 0 ? 0 : Math.round((bytes / sampled) * this.#values.size)
  }
}
