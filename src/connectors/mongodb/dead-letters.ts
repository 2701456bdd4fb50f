import type { DeadLetter } from '../../runtime/sink.ts'
import { utf8Text } from '../sql/index.ts'
import type { SinkDocument } from './bulk.ts'

/**
 * Dead letters as documents of the dead-letter collection, written with the batch: the pipeline's own (with
 * their source position and raw bytes) and the rows the sink or the server refused (the row as JSON). Each
 * `_id` is the pipeline, the batch and the letter's place in it, so a batch written again adds none twice (the
 * second insert of an `_id` is refused as a duplicate, which the writer takes as already written).
 */
export function deadLetterOperations(
  pipelineId: string,
  batchId: number,
  letters: readonly DeadLetter[],
  origin: 'pipeline' | 'sink',
): { insertOne: { document: SinkDocument } }[] {
  return letters.map((letter, index) => ({
    insertOne: {
      document: {
        _id: `${pipelineId}:${batchId}:${origin}:${index}`,
        pipeline: pipelineId,
        batch: batchId,
        operator: letter.operator,
        reason: visibleNul(letter.reason),
        partition: letter.partition,
        offset: letter.offset,
        key: letter.key === null ? null : visibleNul(letter.key),
        raw: rawValue(letter.raw),
        timestamp: new Date(letter.timestamp),
      },
    },
  }))
}

/** Text stays text; bytes are text when they are UTF-8, else kept as binary. */
function rawValue(raw: Buffer | string | null): string | Buffer | null {
  if (raw === null) return raw
  const text = typeof raw === 'string' ? raw : utf8Text(raw)
  if (text === undefined) return raw
  // Bytes with a NUL stay bytes: FerretDB's PostgreSQL backend cannot store a NUL in text.
  return text.includes(NUL) ? Buffer.from(text) : text
}

const NUL = String.fromCharCode(0)

/** A NUL in a reason or key (a field name quoted in the driver's message) as the text \u0000. */
function visibleNul(text: string): string {
  return text.includes(NUL) ? text.replaceAll(NUL, '\\u0000') : text
}
