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
        reason: letter.reason,
        partition: letter.partition,
        offset: letter.offset,
        key: letter.key,
        raw: rawValue(letter.raw),
        timestamp: new Date(letter.timestamp),
      },
    },
  }))
}

/** Text stays text; bytes are text when they are UTF-8, else kept as binary. */
function rawValue(raw: Buffer | string | null): string | Buffer | null {
  if (raw === null || typeof raw === 'string') return raw
  return utf8Text(raw) ?? raw
}
