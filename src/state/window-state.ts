import type { StateCodec } from './keyed-state.ts'
import type { StateSlot, StateStore, StateTable } from './state-database.ts'

/** One window's accumulators in memory, by key (the key's string form): all of them, or some (the rest is on disk). */
export interface Pane<A> {
  readonly start: number
  readonly end: number
  readonly accs: Map<string, A>
  /** Keys that keyBy returned as numbers, by their string form (absent while there are none). */
  numbers: Map<string, number> | undefined
  /** Live keys of the window, in memory and on disk. */
  size: number
}

/** A (key, window) as the store holds it. */
export interface WindowCellSnapshot {
  readonly key: string | number
  readonly start: number
  readonly end: number
  readonly acc: unknown
}

/** One (key, window) read back: from memory or from the store. */
export interface WindowCell<A> {
  readonly keyString: string
  readonly key: string | number
  readonly acc: A
}

/** lookup() of a key the window does not hold. */
export const MISSING: unique symbol = Symbol('missing')

/**
 * The state of tumbling and hopping windows, grouped by window: per window start, a Map from key to
 * accumulator, so a closing window is found and dropped as one, with no per-cell object in memory. The maps
 * are a cache in front of the operator's rows in the state store (one row per (key, window), id
 * "key\0start", time = window end): changed cells stay in memory until the state commits (or until there are
 * more than `cacheEntries` of them), then windows keep at most `cacheEntries` cells, preferring recently
 * used ones; a window whose cells are all in memory answers look-ups without the store.
 */
export class WindowState<A> implements StateStore {
  readonly id: string
  readonly #table: StateTable
  readonly #codec: StateCodec<A>
  readonly #cacheEntries: number
  readonly #panes = new Map<number, Pane<A>>()
  #size = 0
  #cached = 0
  /** Keys changed since the last write, per window. */
  #dirty = new Map<Pane<A>, Set<string>>()
  #dirtyCells = 0
  /** Windows dropped since the last write, by end. */
  #deletedEnds: number[] = []
  /** Keys used this batch, per window: kept in memory when the cache is trimmed. */
  #hot = new Map<Pane<A>, Set<string>>()

  constructor(slot: StateSlot, codec: StateCodec<A>) {
    this.id = slot.table.op
    this.#table = slot.table
    this.#codec = codec
    this.#cacheEntries = slot.cacheEntries
    this.afterRestore()
  }

  get size(): number {
    return this.#size
  }

  /** Decoded cells in memory now. */
  get cachedEntries(): number {
    return this.#cached
  }

  /** The window starting at `start`, created empty when missing. */
  pane(start: number, end: number): Pane<A> {
    let pane = this.#panes.get(start)
    if (pane === undefined) {
      pane = { start, end, accs: new Map(), numbers: undefined, size: 0 }
      this.#panes.set(start, pane)
    }
    return pane
  }

  /** A key's accumulator in a window, or MISSING. */
  lookup(pane: Pane<A>, keyString: string): A | typeof MISSING {
    const acc = pane.accs.get(keyString)
    if (acc !== undefined || pane.accs.has(keyString)) return acc as A
    if (pane.size === pane.accs.size) return MISSING // every cell of the window is in memory
    const row = this.#table.get(cellId(keyString, pane.start))
    if (row === undefined) return MISSING
    const cell = JSON.parse(row.value) as WindowCellSnapshot
    const decoded = this.#codec.decode(cell.acc)
    pane.accs.set(keyString, decoded)
    if (typeof cell.key === 'number') numbersOf(pane).set(keyString, cell.key)
    this.#cached++
    return decoded
  }

  /** Adds a key the window does not hold (lookup() returned MISSING). */
  create(pane: Pane<A>, key: string | number, keyString: string, acc: A): void {
    pane.accs.set(keyString, acc)
    if (typeof key === 'number') numbersOf(pane).set(keyString, key)
    pane.size++
    this.#size++
    this.#cached++
    this.touch(pane, keyString)
  }

  /** Replaces a held key's accumulator. */
  update(pane: Pane<A>, keyString: string, acc: A): void {
    pane.accs.set(keyString, acc)
    this.touch(pane, keyString)
  }

  /** Marks a key of a window changed (its accumulator was mutated in place). */
  touch(pane: Pane<A>, keyString: string): void {
    if (addTo(this.#dirty, pane, keyString)) this.#dirtyCells++
    addTo(this.#hot, pane, keyString)
  }

  /** The original key (number or string) of a key string held in memory. */
  keyOf(pane: Pane<A>, keyString: string): string | number {
    return pane.numbers?.get(keyString) ?? keyString
  }

  /** Windows in no particular order. */
  panes(): IterableIterator<Pane<A>> {
    return this.#panes.values()
  }

  /** Every cell of a window: those in memory, then those only on disk (read, not cached). */
  *cells(pane: Pane<A>): Generator<WindowCell<A>> {
    for (const [keyString, acc] of pane.accs) yield { keyString, key: this.keyOf(pane, keyString), acc }
    if (pane.size === pane.accs.size) return
    for (const row of this.#table.at(pane.end)) {
      const cell = JSON.parse(row.value) as WindowCellSnapshot
      if (cell.start !== pane.start) continue
      const keyString = typeof cell.key === 'string' ? cell.key : String(cell.key)
      if (!pane.accs.has(keyString)) yield { keyString, key: cell.key, acc: this.#codec.decode(cell.acc) }
    }
  }

  /** Drops a whole window. */
  deletePane(pane: Pane<A>): void {
    if (this.#panes.get(pane.start) !== pane) return
    this.#panes.delete(pane.start)
    this.#size -= pane.size
    this.#cached -= pane.accs.size
    this.#dirtyCells -= this.#dirty.get(pane)?.size ?? 0
    this.#dirty.delete(pane)
    this.#hot.delete(pane)
    this.#deletedEnds.push(pane.end)
  }

  writeChanges(): void {
    for (const end of this.#deletedEnds) this.#table.deleteAt(end)
    for (const [pane, keys] of this.#dirty) {
      for (const keyString of keys) {
        const snapshot: WindowCellSnapshot = {
          key: this.keyOf(pane, keyString),
          start: pane.start,
          end: pane.end,
          acc: this.#codec.encode(pane.accs.get(keyString) as A),
        }
        this.#table.put(cellId(keyString, pane.start), pane.end, JSON.stringify(snapshot))
      }
    }
    this.#dirty = new Map()
    this.#dirtyCells = 0
    this.#deletedEnds = []
  }

  afterBatch(): void {
    if (this.#dirtyCells <= this.#cacheEntries) return
    this.writeChanges()
    this.#trim()
  }

  afterCommit(): void {
    this.#trim()
    this.#hot = new Map()
  }

  #trim(): void {
    if (this.#cached > this.#cacheEntries) {
      // As KeyedState: down to 90 % of the bound, cells the batch did not use first, oldest windows first;
      // then, if the batch alone used more than the bound, any cell.
      const target = Math.floor(this.#cacheEntries * 0.9)
      this.#evict(target, true)
      this.#evict(this.#cacheEntries, false)
    }
  }

  #evict(target: number, sparingHot: boolean): void {
    for (const pane of this.#panes.values()) {
      const hot = sparingHot ? this.#hot.get(pane) : undefined
      for (const keyString of pane.accs.keys()) {
        if (this.#cached <= target) return
        if (hot?.has(keyString)) continue
        pane.accs.delete(keyString)
        pane.numbers?.delete(keyString)
        this.#cached--
      }
    }
  }

  afterRestore(): void {
    this.#panes.clear()
    this.#size = 0
    this.#cached = 0
    this.#dirty = new Map()
    this.#dirtyCells = 0
    this.#deletedEnds = []
    this.#hot = new Map()
    for (const { time, rows, sample } of this.#table.times()) {
      const start = (JSON.parse(sample) as WindowCellSnapshot).start
      this.#panes.set(start, { start, end: time, accs: new Map(), numbers: undefined, size: rows })
      this.#size += rows
    }
  }
}

function numbersOf(pane: Pane<unknown>): Map<string, number> {
  if (pane.numbers === undefined) pane.numbers = new Map()
  return pane.numbers
}

/** Adds a key to a window's set; true when it was not there. */
function addTo<K>(map: Map<K, Set<string>>, pane: K, keyString: string): boolean {
  let keys = map.get(pane)
  if (keys === undefined) {
    keys = new Set()
    map.set(pane, keys)
  }
  const before = keys.size
  keys.add(keyString)
  return keys.size !== before
}

/** The id a (key, window) has in the store. */
function cellId(keyString: string, start: number): string {
  return `${keyString}\u0000${start}`
}
