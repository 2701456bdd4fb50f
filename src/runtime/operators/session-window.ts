import type { Aggregator } from '../../aggregate/index.ts'
import type { WindowAggregateNode } from '../../plan/nodes.ts'
import { KeyedState } from '../../state/keyed-state.ts'
import type { StateSlot } from '../../state/state-database.ts'
import { addToSessions, type Session, takeClosedSessions } from '../../window/index.ts'
import { type BatchScope, derivedContext, type Emit } from './context.ts'
import { compareKeys, isPlainObject } from './window.ts'

interface KeySessions {
  readonly key: unknown
  readonly sessions: Session<unknown>[]
}

function codec(aggregator: Aggregator<unknown, unknown, unknown>) {
  return {
    encode: (cell: KeySessions) => ({
      key: cell.key,
      sessions: cell.sessions.map((s) => ({ start: s.start, end: s.end, acc: aggregator.encode(s.acc) })),
    }),
    decode: (snapshot: unknown): KeySessions => {
      const s = snapshot as { key: unknown; sessions: { start: number; end: number; acc: unknown }[] }
      return {
        key: s.key,
        sessions: s.sessions.map((x) => ({ start: x.start, end: x.end, acc: aggregator.decode(x.acc) })),
      }
    },
  }
}

/**
 * Session windows per key: an event opens [t, t + gap) and joins every session it overlaps, so sessions grow
 * and merge as events arrive in any order. A session closes when the watermark passes its end.
 * Update mode emits each batch the sessions that received events; when sessions merge, rows emitted earlier
 * for the pieces are not retracted (an upserting sink keyed by key and window_start keeps them).
 */
export class SessionWindowOperator {
  readonly state: KeyedState<KeySessions>
  readonly #node: WindowAggregateNode
  readonly #gap: number
  readonly #scope: () => BatchScope
  #next: Emit
  #touched = new Map<string, Set<Session<unknown>>>()

  constructor(node: WindowAggregateNode, scope: () => BatchScope, next: Emit, slot: StateSlot) {
    if (node.window.kind !== 'session')
      throw new Error('internal: SessionWindowOperator needs a session window')
    this.#node = node
    this.#gap = node.window.gap
    this.#scope = scope
    this.#next = next
    // A key's time is its first session's end, so a watermark finds the keys with a session to close
    // through the store's index instead of visiting every key.
    this.state = new KeyedState(slot, {
      codec: codec(node.aggregator),
      timeOf: (cell) => cell.sessions[0]?.end,
    })
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
    let cell = this.state.get(context.keyString)
    if (!cell) {
      cell = { key: context.key, sessions: [] }
      this.state.set(context.keyString, cell)
    } else {
      this.state.touch(context.keyString)
    }
    const update = addToSessions(cell.sessions, context.eventTime, this.#gap, this.#node.aggregator, value)
    if (this.#node.outputMode === 'update') {
      let touched = this.#touched.get(context.keyString)
      if (!touched) {
        touched = new Set()
        this.#touched.set(context.keyString, touched)
      }
      touched.add(update.session)
    }
  }

  flush(watermark: number): void {
    const emit: { key: unknown; session: Session<unknown> }[] = []
    if (this.#node.outputMode === 'update') {
      for (const [keyString, sessions] of this.#touched) {
        const cell = this.state.get(keyString)
        if (!cell) continue
        // Sessions merged away later in the batch are no longer in the list: skip them.
        for (const s of sessions) if (cell.sessions.includes(s)) emit.push({ key: cell.key, session: s })
      }
      this.#touched = new Map()
    }
    // +Infinity (the input ended) closes every session.
    if (watermark > Number.NEGATIVE_INFINITY) {
      for (const [keyString, cell] of this.state.expiring(watermark, true)) {
        const closed = takeClosedSessions(cell.sessions, watermark)
        if (this.#node.outputMode === 'append')
          for (const s of closed) emit.push({ key: cell.key, session: s })
        if (cell.sessions.length === 0) this.state.delete(keyString)
        else this.state.touch(keyString)
      }
    }
    emit.sort((a, b) => a.session.start - b.session.start || compareKeys(a.key, b.key))
    const batchId = this.#scope().batchId
    for (const { key, session } of emit) {
      const result = this.#node.aggregator.result(session.acc)
      const row = {
        key,
        window_start: new Date(session.start).toISOString(),
        window_end: new Date(session.end).toISOString(),
        ...(isPlainObject(result) ? result : { value: result }),
      }
      this.#next(row, derivedContext(session.end - 1, key, String(key), batchId))
    }
  }
}
