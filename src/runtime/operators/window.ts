import type { Aggregator } from '../../aggregate/index.ts'
import type { WindowAggregateNode } from '../../plan/nodes.ts'
import { KeyedState } from '../../state/keyed-state.ts'
import { assignWindows } from '../../window/index.ts'
import { type BatchScope, derivedContext, type Emit } from './context.ts'

/** State of one (key, window). */
interface WindowCell {
  readonly key: unknown
  readonly start: number
  readonly end: number
  acc: unknown
}

function cellCodec(aggregator: Aggregator<unknown, unknown, unknown>) {
  return {
    encode: (cell: WindowCell) => ({
      key: cell.key,
      start: cell.start,
      end: cell.end,
      acc: aggregator.encode(cell.acc),
    }),
    decode: (snapshot: unknown): WindowCell => {
      const s = snapshot as { key: unknown; start: number; end: number; acc: unknown }
      return { key: s.key, start: s.start, end: s.end, acc: aggregator.decode(s.acc) }
    },
  }
}

/**
 * Tumbling and hopping windows per key. Cells are indexed by window end, so closing windows at a watermark
 * touches only the windows that close, not the whole state.
 */
export class WindowOperator {
  readonly state: KeyedState<WindowCell>
  readonly #node: WindowAggregateNode
  readonly #scope: () => BatchScope
  readonly #next: Emit
  readonly #byEnd = new Map<number, Set<string>>()
  #changed = new Set<string>()

  constructor(node: WindowAggregateNode, scope: () => BatchScope, next: Emit) {
    this.#node = node
    this.#scope = scope
    this.#next = next
    this.state = new KeyedState(node.id, cellCodec(node.aggregator))
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
    for (const bounds of assignWindows(this.#node.window, context.eventTime)) {
      const id = `${context.keyString}\u0000${bounds.start}`
      let cell = this.state.get(id)
      if (cell === undefined) {
        cell = { key: context.key, start: bounds.start, end: bounds.end, acc: aggregator.init() }
        this.state.set(id, cell)
        this.#index(id, bounds.end)
      } else {
        this.state.touch(id)
      }
      cell.acc = aggregator.add(cell.acc, value, context.eventTime)
      this.#changed.add(id)
    }
  }

  /** Emits what the output mode asks for at this watermark, then evicts closed windows (except in complete mode). */
  flush(watermark: number): void {
    const mode = this.#node.outputMode
    const emit: WindowCell[] = []
    if (mode === 'update') {
      for (const id of this.#changed) {
        const cell = this.state.get(id)
        if (cell) emit.push(cell)
      }
    } else if (mode === 'complete') {
      for (const [, cell] of this.state.entries()) emit.push(cell)
    }
    for (const [end, ids] of this.#byEnd) {
      if (end > watermark) continue
      for (const id of ids) {
        const cell = this.state.get(id)
        if (!cell) continue
        if (mode === 'append') emit.push(cell)
        if (mode !== 'complete') this.state.delete(id)
      }
      if (mode !== 'complete') this.#byEnd.delete(end)
    }
    this.#changed = new Set()
    emit.sort((a, b) => a.start - b.start || compareKeys(a.key, b.key))
    const batchId = this.#scope().batchId
    for (const cell of emit) this.#emitCell(cell, batchId)
  }

  /** After a restore: rebuild the end index from the loaded cells. */
  reindex(): void {
    this.#byEnd.clear()
    for (const [id, cell] of this.state.entries()) this.#index(id, cell.end)
  }

  #index(id: string, end: number): void {
    let ids = this.#byEnd.get(end)
    if (!ids) {
      ids = new Set()
      this.#byEnd.set(end, ids)
    }
    ids.add(id)
  }

  #emitCell(cell: WindowCell, batchId: number): void {
    const result = this.#node.aggregator.result(cell.acc)
    const row = {
      key: cell.key,
      window_start: new Date(cell.start).toISOString(),
      window_end: new Date(cell.end).toISOString(),
      ...(isPlainObject(result) ? result : { value: result }),
    }
    this.#next(row, derivedContext(cell.end - 1, cell.key, String(cell.key), batchId))
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
