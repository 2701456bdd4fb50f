import type { JoinNode, LookupTable } from '../../plan/nodes.ts'
import { type BatchScope, type Emit, errorMessage } from './context.ts'

/** Stream–table join against a table held in memory (loaded before the first batch, refreshed between batches). */
export function joinOperator(
  node: JoinNode,
  table: () => LookupTable,
  scope: () => BatchScope,
  next: Emit,
): Emit {
  return (value, context) => {
    let out: unknown
    try {
      const key = node.on(value)
      const row = key === null || key === undefined ? undefined : table().get(String(key))
      if (row === undefined && node.how === 'inner') return
      out = node.select(value, row)
    } catch (error) {
      scope().deadLetter(context, node.id, `join threw: ${errorMessage(error)}`)
      return
    }
    next(out, context)
  }
}
