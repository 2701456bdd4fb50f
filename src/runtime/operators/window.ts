import type { WindowAggregateNode } from '../../plan/nodes.ts'
import type { StateSlot } from '../../state/state-database.ts'
import { MISSING, type Pane, type WindowCell, WindowState } from '../../state/window-state.ts'
import { assignWindows } from '../../window/index.ts'
import { type BatchScope, derivedContext, type Emit } from './context.ts'

/** A (key, window) to emit. */
interface Emitted {
  readonly pane: Pane<unknown>
  readonly cell: WindowCell<unknown>
}

/**
 * Tumbling and hopping windows per key. State is grouped by window (WindowState), so closing windows at a
 * watermark touches only the windows that close, and a live (key, window) costs one map entry.
 */
export class WindowOperator {
  readonly state: WindowState<unknown>
  readonly #node: WindowAggregateNode
  readonly #scope: () => BatchScope
  #next: Emit
  /** Update mode: the keys whose accumulators changed this batch, per window. */
  #changed = new Map<Pane<unknown>, Set<string>>()

  constructor(node: WindowAggregateNode, scope: () => BatchScope, next: Emit, slot: StateSlot) {
    this.#node = node
    this.#scope = scope
    this.#next = next
    this.state = new WindowState(slot, node.aggregator)
  }

  /** Where its output goes from the next batch on: a tap opened or closed behind it (runtime/tap.ts). */
  retarget(next: Emit): void {
    this.#next = next
  }

  readonly push: Emit = (value, context) => {
    if (Number.isNaN(context.eventTime)) {
      this.#scope().deadLetter(
        context,
        this.#node.id,
        'windows need an event time: declare withWatermark() before keyBy()',
      )
      return
    }
    const aggregator = this.#node.aggregator
    const keyString = context.keyString
    const update = this.#node.outputMode === 'update'
    for (const bounds of assignWindows(this.#node.window, context.eventTime)) {
      const pane = this.state.pane(bounds.start, bounds.end)
      const acc = this.state.lookup(pane, keyString)
      if (acc === MISSING) {
        const key = context.key as string | number
        this.state.create(pane, key, keyString, aggregator.add(aggregator.init(), value, context.eventTime))
      } else {
        const next = aggregator.add(acc, value, context.eventTime)
        // add() mutates objects in place and returns them: only new values need a map write.
        if (next !== acc) this.state.update(pane, keyString, next)
        else this.state.touch(pane, keyString)
      }
      if (update) {
        let keys = this.#changed.get(pane)
        if (keys === undefined) {
          keys = new Set()
          this.#changed.set(pane, keys)
        }
        keys.add(keyString)
      }
    }
  }

  /** Emits what the output mode asks for at this watermark, then evicts closed windows (except in complete mode). */
  flush(watermark: number): void {
    const mode = this.#node.outputMode
    const emit: Emitted[] = []
    if (mode === 'update') {
      // Changed cells were written this batch, so they are still in memory.
      for (const [pane, keys] of this.#changed)
        for (const keyString of keys)
          emit.push({
            pane,
            cell: { keyString, key: this.state.keyOf(pane, keyString), acc: pane.accs.get(keyString) },
          })
    } else if (mode === 'complete') {
      for (const pane of this.state.panes())
        for (const cell of this.state.cells(pane)) emit.push({ pane, cell })
    }
    const closed: Pane<unknown>[] = []
    for (const pane of this.state.panes()) if (pane.end <= watermark) closed.push(pane)
    for (const pane of closed) {
      if (mode === 'append') for (const cell of this.state.cells(pane)) emit.push({ pane, cell })
      if (mode !== 'complete') this.state.deletePane(pane)
    }
    this.#changed = new Map()
    emit.sort((a, b) => a.pane.start - b.pane.start || compareKeys(a.cell.key, b.cell.key))
    const batchId = this.#scope().batchId
    for (const { pane, cell } of emit) this.#emitCell(pane, cell, batchId)
  }

  #emitCell(pane: Pane<unknown>, cell: WindowCell<unknown>, batchId: number): void {
    const { key, keyString } = cell
    const result = this.#node.aggregator.result(cell.acc)
    const row = {
      key,
      window_start: new Date(pane.start).toISOString(),
      window_end: new Date(pane.end).toISOString(),
      ...(isPlainObject(result) ? result : { value: result }),
    }
    this.#next(row, derivedContext(pane.end - 1, key, keyString, batchId))
  }
}

export function compareKeys(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  const sa = String(a)
  const sb = String(b)
  return sa < sb ? -1 : sa > sb ? 1 : 0
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
