import type { KeyedProcessContext } from '../plan/nodes.ts'
import type { CompiledExpression } from './expression.ts'

/**
 * A `process:` step of a pipeline file as the DSL's keyed process functions. Per record, `next` is evaluated
 * over the key's state, then `emit` over the same state and next's result; the records emit lists go
 * downstream and next's result becomes the state (null forgets the key). Either expression failing, or emit
 * giving something other than a list, throws: the operator then dead-letters the record, emits nothing and
 * keeps the state as it was.
 *
 * State is kept as plain JSON (it is checkpointed as JSON, and must read the same after a restore): CEL
 * integers become numbers, which CEL then sees as doubles. The compiler refuses init and next expressions
 * whose type holds an int, so that `state + 1` cannot work on the first record and fail on every later one.
 */

export interface ProcessExpressions {
  readonly init: CompiledExpression
  readonly next: CompiledExpression
  readonly emit: CompiledExpression
}

export interface ProcessFunctions {
  readonly init: (key: unknown) => unknown
  readonly process: (
    state: unknown,
    event: unknown,
    context: KeyedProcessContext<unknown, unknown>,
  ) => unknown
}

export function processFunctions({ init, next, emit }: ProcessExpressions): ProcessFunctions {
  return {
    init: (key) => init.evaluateWith({ key }),
    process: (state, event, context) => {
      const key = context.key
      const after = next.evaluateWith({ state, event, key })
      const records = emit.evaluateWith({ state, next: after, event, key })
      if (!Array.isArray(records))
        throw new Error(`emit ${JSON.stringify(emit.source)} gave ${JSON.stringify(records)}, not a list`)
      for (const record of records) context.emit(record)
      return after === null ? undefined : after
    },
  }
}

/** A CEL type that holds an int (`int`, `list<int>`, `map<string, int>`, `uint`): not kept by JSON state. */
export function holdsInt(type: string): boolean {
  return /\bu?int\b/.test(type)
}
