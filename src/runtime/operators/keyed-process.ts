import type { KeyedProcessContext, KeyedProcessNode } from '../../plan/nodes.ts'
import { KeyedState } from '../../state/keyed-state.ts'
import type { StateSlot } from '../../state/state-database.ts'
import { type BatchScope, type Emit, errorMessage, type RecordContext } from './context.ts'

/** One key's user state and the event time it was last updated at (for the time-to-live). */
interface Entry {
  state: unknown
  time: number
}

/** User state is stored as JSON in checkpoints: it must be JSON-able (plain objects, arrays, numbers…). */
const entryCodec = {
  encode: (entry: Entry) => [entry.state, Number.isNaN(entry.time) ? null : entry.time],
  decode: (snapshot: unknown): Entry => {
    const [state, time] = snapshot as [unknown, number | null]
    return { state, time: time ?? Number.NaN }
  },
}

/**
 * Keyed `process()`: for each value, the user function gets its key's state (or `init(key)` for a new key),
 * may emit any number of values, and returns the key's next state (`undefined` forgets the key). A function
 * that throws dead-letters the value, discards what it emitted and leaves the state as it was, so a poison
 * record cannot half-apply.
 */
export class KeyedProcessOperator {
  readonly state: KeyedState<Entry>
  readonly #node: KeyedProcessNode
  readonly #scope: () => BatchScope
  #next: Emit

  constructor(node: KeyedProcessNode, scope: () => BatchScope, next: Emit, slot: StateSlot) {
    this.#node = node
    this.#scope = scope
    this.#next = next
    // An entry's time is its last update, so the time-to-live deletes through the store's index.
    this.state = new KeyedState(slot, { codec: entryCodec, timeOf: (entry) => entry.time })
  }

  /** Where its output goes from the next batch on: a tap opened or closed behind it (runtime/tap.ts). */
  retarget(next: Emit): void {
    this.#next = next
  }

  readonly push: Emit = (value, context) => {
    const key = context.keyString
    const entry = this.state.get(key)
    const emitted: unknown[] = []
    const processContext: KeyedProcessContext<unknown, unknown> = {
      key: context.key,
      eventTime: context.eventTime,
      emit: (out) => {
        emitted.push(out)
      },
    }
    let next: unknown
    try {
      const current = entry === undefined ? this.#node.init(context.key) : entry.state
      next = this.#node.fn(current, value, processContext)
    } catch (error) {
      this.#scope().deadLetter(context, this.#node.id, `process threw: ${errorMessage(error)}`)
      return
    }
    if (next === undefined) this.state.delete(key)
    else this.state.set(key, { state: next, time: latest(entry?.time, context.eventTime) })
    for (const out of emitted) this.#next(out, context as RecordContext)
  }

  /** Forgets keys whose last update is older than the time-to-live behind the watermark. */
  flush(watermark: number): void {
    const ttl = this.#node.ttlMs
    if (ttl === undefined || !Number.isFinite(watermark)) return
    this.state.deleteExpired(watermark - ttl)
  }
}

function latest(previous: number | undefined, now: number): number {
  if (previous === undefined || Number.isNaN(previous)) return now
  if (Number.isNaN(now)) return previous
  return Math.max(previous, now)
}
