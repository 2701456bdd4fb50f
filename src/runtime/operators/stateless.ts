import type { RecordMeta } from '../../contracts/record-meta.ts'
import type { FilterNode, FlatMapNode, KeyByNode, MapNode, ParseNode } from '../../plan/nodes.ts'
import { type BatchScope, type Emit, errorMessage } from './context.ts'
import { readsMeta, recordMeta } from './record-meta.ts'

/** The stateless steps. A user function that throws dead-letters the record instead of failing the batch. */

export function parseOperator(node: ParseNode, scope: () => BatchScope, next: Emit): Emit {
  return (value, context) => {
    const result = node.validate(value)
    if (result.ok) next(result.value, context)
    else scope().deadLetter(context, node.id, result.reason)
  }
}

export function mapOperator(node: MapNode, scope: () => BatchScope, next: Emit): Emit {
  const meta = readsMeta(node.fn)
  return (value, context) => {
    let out: unknown
    try {
      out = meta ? node.fn(value, recordMeta(context.record)) : node.fn(value, NO_META)
    } catch (error) {
      scope().deadLetter(context, node.id, `map threw: ${errorMessage(error)}`)
      return
    }
    next(out, context)
  }
}

export function filterOperator(node: FilterNode, scope: () => BatchScope, next: Emit): Emit {
  const meta = readsMeta(node.fn)
  return (value, context) => {
    let keep: boolean
    try {
      keep = meta ? node.fn(value, recordMeta(context.record)) : node.fn(value, NO_META)
    } catch (error) {
      scope().deadLetter(context, node.id, `filter threw: ${errorMessage(error)}`)
      return
    }
    if (keep) next(value, context)
  }
}

export function flatMapOperator(node: FlatMapNode, scope: () => BatchScope, next: Emit): Emit {
  const meta = readsMeta(node.fn)
  return (value, context) => {
    let out: unknown[]
    try {
      out = [...(meta ? node.fn(value, recordMeta(context.record)) : node.fn(value, NO_META))]
    } catch (error) {
      scope().deadLetter(context, node.id, `flatMap threw: ${errorMessage(error)}`)
      return
    }
    for (const item of out) next(item, context)
  }
}

export function keyByOperator(node: KeyByNode, scope: () => BatchScope, next: Emit): Emit {
  return (value, context) => {
    let key: unknown
    try {
      key = node.fromRecordKey ? recordKey(context.record.key) : node.fn(value)
    } catch (error) {
      scope().deadLetter(context, node.id, `keyBy threw: ${errorMessage(error)}`)
      return
    }
    if (key === null || key === undefined || key === '') {
      scope().deadLetter(
        context,
        node.id,
        node.fromRecordKey ? 'null key: the record has no Kafka key' : 'null key: keyBy returned no key',
      )
      return
    }
    if (typeof key !== 'string' && typeof key !== 'number') {
      scope().deadLetter(context, node.id, `keyBy returned a ${typeof key}; keys must be strings or numbers`)
      return
    }
    context.key = key
    context.keyString = typeof key === 'string' ? key : String(key)
    next(value, context)
  }
}

/** A record's Kafka key as the text keyByRecordKey() groups by. */
function recordKey(key: Buffer | string | null | undefined): string | undefined {
  if (key === null || key === undefined) return undefined
  return typeof key === 'string' ? key : key.toString('utf8')
}

/** What a function of one parameter gets as its (unread) second argument. */
const NO_META = undefined as unknown as RecordMeta
