import type { StateChanges, StateCodec, StateStore } from './keyed-state.ts'

/** One window's accumulators, by key (the key's string form). */
export interface Pane<A> {
  readonly start: number
  readonly end: number
  readonly accs: Map<string, A>
  /** Keys that keyBy returned as numbers, by their string form (absent while there are none). */
  numbers: Map<string, number> | undefined
}

/** A (key, window) as checkpoints store it. */
export interface WindowCellSnapshot {
  readonly key: string | number
  readonly start: number
  readonly end: number
  readonly acc: unknown
}

/**
 * The state of tumbling and hopping windows, grouped by window: per window start, one Map from key to
 * accumulator. A live (key, window) costs one Map entry and its accumulator, with no cell object, no
 * "key\0start" id string and no index entry per cell (289 → about 100 bytes per key with 1M live keys of
 * count + sum, see bench/README.md), and a closing window is dropped as one map.
 *
 * Checkpoints see what a KeyedState of cells would show, so the files are unchanged: id "key\0start" →
 * { key, start, end, acc }.
 */
export class WindowState<A> implements StateStore {
  readonly id: string
  readonly #codec: StateCodec<A>
  readonly #panes = new Map<number, Pane<A>>()
  #size = 0
  /** Keys changed since the last drain, per window start. */
  #dirty = new Map<number, Set<string>>()
  #deleted: string[] = []

  constructor(id: string, codec: StateCodec<A>) {
    this.id = id
    this.#codec = codec
  }

  get size(): number {
    return this.#size
  }

  /** The window starting at `start`, created empty when missing. */
  pane(start: number, end: number): Pane<A> {
    let pane = this.#panes.get(start)
    if (pane === undefined) {
      pane = { start, end, accs: new Map(), numbers: undefined }
      this.#panes.set(start, pane)
    }
    return pane
  }

  /** Sets a key's accumulator in a window and marks it changed. */
  set(pane: Pane<A>, key: string | number, keyString: string, acc: A): void {
    const accs = pane.accs
    if (!accs.has(keyString)) {
      this.#size++
      if (typeof key === 'number') numbersOf(pane).set(keyString, key)
    }
    accs.set(keyString, acc)
    this.touch(pane, keyString)
  }

  /** Marks a key of a window changed (its accumulator was mutated in place). */
  touch(pane: Pane<A>, keyString: string): void {
    let keys = this.#dirty.get(pane.start)
    if (keys === undefined) {
      keys = new Set()
      this.#dirty.set(pane.start, keys)
    }
    keys.add(keyString)
  }

  /** The original key (number or string) of a key string in a window. */
  keyOf(pane: Pane<A>, keyString: string): string | number {
    return pane.numbers?.get(keyString) ?? keyString
  }

  /** Windows in no particular order. */
  panes(): IterableIterator<Pane<A>> {
    return this.#panes.values()
  }

  /** Drops a whole window. */
  deletePane(pane: Pane<A>): void {
    if (this.#panes.get(pane.start) !== pane) return
    this.#panes.delete(pane.start)
    this.#size -= pane.accs.size
    this.#dirty.delete(pane.start)
    for (const keyString of pane.accs.keys()) this.#deleted.push(cellId(keyString, pane.start))
  }

  drainChanges(): StateChanges {
    const upserts: (readonly [string, unknown])[] = []
    for (const [start, keys] of this.#dirty) {
      const pane = this.#panes.get(start)
      if (pane === undefined) continue
      for (const keyString of keys) {
        if (pane.accs.has(keyString)) upserts.push([cellId(keyString, start), this.#encode(pane, keyString)])
      }
    }
    const changes = { upserts, deletes: this.#deleted }
    this.#dirty = new Map()
    this.#deleted = []
    return changes
  }

  *encodedEntries(): Generator<readonly [string, unknown]> {
    for (const pane of this.#panes.values()) {
      for (const keyString of pane.accs.keys())
        yield [cellId(keyString, pane.start), this.#encode(pane, keyString)]
    }
  }

  load(entries: Iterable<readonly [string, unknown]>): void {
    this.#panes.clear()
    this.#size = 0
    for (const [, encoded] of entries) {
      const cell = encoded as WindowCellSnapshot
      const pane = this.pane(cell.start, cell.end)
      const keyString = typeof cell.key === 'string' ? cell.key : String(cell.key)
      if (!pane.accs.has(keyString)) this.#size++
      if (typeof cell.key === 'number') numbersOf(pane).set(keyString, cell.key)
      pane.accs.set(keyString, this.#codec.decode(cell.acc))
    }
    this.#dirty = new Map()
    this.#deleted = []
  }

  approximateBytes(): number {
    let sampled = 0
    let bytes = 0
    outer: for (const pane of this.#panes.values()) {
      for (const keyString of pane.accs.keys()) {
        bytes += keyString.length * 2 + JSON.stringify(this.#encode(pane, keyString).acc).length * 2 + 48
        if (++sampled >= 32) break outer
      }
    }
    return sampled === 0 ? 0 : Math.round((bytes / sampled) * this.#size)
  }

  #encode(pane: Pane<A>, keyString: string): WindowCellSnapshot {
    return {
      key: this.keyOf(pane, keyString),
      start: pane.start,
      end: pane.end,
      acc: this.#codec.encode(pane.accs.get(keyString) as A),
    }
  }
}

function numbersOf(pane: Pane<unknown>): Map<string, number> {
  if (pane.numbers === undefined) pane.numbers = new Map()
  return pane.numbers
}

/** The id a (key, window) has in checkpoint files. */
function cellId(keyString: string, start: number): string {
  return `${keyString}\u0000${start}`
}
