import type { DedupeNode } from '../../plan/nodes.ts'
import { KeyedState } from '../../state/keyed-state.ts'
import type { StateSlot } from '../../state/state-database.ts'
import { type BatchScope, type Emit, errorMessage } from './context.ts'

const numberCodec = { encode: (v: number) => v, decode: (s: unknown) => Number(s) }

/**
 * Drops a value whose key was already seen within `withinMs` of event time. A key's entry lives until the
 * watermark passes its event time plus the window, so state stays bounded by the stream's rate × window.
 */
export class DedupeOperator {
  readonly state: KeyedState<number>
  readonly #node: DedupeNode
  readonly #scope: () => BatchScope
  #next: Emit

  constructor(node: DedupeNode, scope: () => BatchScope, next: Emit, slot: StateSlot) {
    this.#node = node
    this.#scope = scope
    this.#next = next
    // An entry's time is the event time it was seen at; flush() deletes by it through the store's index.
    this.state = new KeyedState(slot, { codec: numberCodec, timeOf: (seen) => seen })
  }

  /** Where its output goes from the next batch on: a tap opened or closed behind it (runtime/tap.ts). */
  retarget(next: Emit): void {
    this.#next = next
  }

  readonly push: Emit = (value, context) => {
    const scope = this.#scope()
    if (Number.isNaN(context.eventTime)) {
      scope.deadLetter(
        context,
        this.#node.id,
        'dedupe needs an event time: declare withWatermark() before it',
      )
      return
    }
    let key: unknown
    try {
      key = this.#node.keyFn(value)
    } catch (error) {
      scope.deadLetter(context, this.#node.id, `dedupe key threw: ${errorMessage(error)}`)
      return
    }
    if (key === null || key === undefined) {
      scope.deadLetter(context, this.#node.id, 'null key: dedupe key is missing')
      return
    }
    const k = String(key)
    const seen = this.state.get(k)
    if (seen !== undefined && Math.abs(context.eventTime - seen) < this.#node.withinMs) {
      scope.counters.duplicateRows++
      return
    }
    this.state.set(k, context.eventTime)
    this.#next(value, context)
  }

  /** Forgets keys the watermark has moved past by more than the window. */
  flush(watermark: number): void {
    const horizon = watermark - this.#node.withinMs
    // +Infinity (the input ended) forgets every key.
    if (!(horizon > Number.NEGATIVE_INFINITY)) return
    this.state.deleteExpired(horizon)
  }
}
