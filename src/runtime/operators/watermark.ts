import { toEpochMs } from '../../dsl/event-time.ts'
import type { WatermarkNode } from '../../plan/nodes.ts'
import type { BatchScope, Emit } from './context.ts'

/** Event times later than this past the batch time are rejected as bad input, not windowed into the future. */
export const MAX_FUTURE_MS = 24 * 60 * 60 * 1000

/**
 * Reads the event time, rejects impossible ones (unparseable, before 1970, a day or more in the future),
 * counts records behind the batch's watermark as late and reports the rest for the next watermark.
 */
export function watermarkOperator(node: WatermarkNode, scope: () => BatchScope, next: Emit): Emit {
  return (value, context) => {
    const s = scope()
    let raw: unknown
    try {
      raw = node.eventTime(value)
    } catch {
      raw = undefined
    }
    const t = toEpochMs(raw)
    if (t === undefined) {
      s.deadLetter(
        context,
        node.id,
        `invalid event time in "${node.field}": ${JSON.stringify(raw) ?? 'missing'}`,
      )
      return
    }
    if (t < 0) {
      s.deadLetter(
        context,
        node.id,
        `event time before 1970 in "${node.field}": ${new Date(t).toISOString()}`,
      )
      return
    }
    if (t > s.batchTime + MAX_FUTURE_MS) {
      s.deadLetter(
        context,
        node.id,
        `event time too far in the future in "${node.field}": ${new Date(t).toISOString()}`,
      )
      return
    }
    if (t < s.watermark) {
      s.counters.lateRows++
      if (node.late === 'dead-letter') {
        s.deadLetter(
          context,
          node.id,
          `late: event time ${new Date(t).toISOString()} is behind the watermark ${watermarkText(s.watermark)}`,
        )
      }
      return
    }
    s.observeEventTime(context.record.partition, t)
    context.eventTime = t
    next(value, context)
  }
}

/** The watermark in a dead letter's reason: +Infinity once the input has ended (no date says that). */
function watermarkText(watermark: number): string {
  return watermark === Number.POSITIVE_INFINITY ? '(the input has ended)' : new Date(watermark).toISOString()
}
