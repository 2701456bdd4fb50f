import type { DeadLetter } from '../../runtime/sink.ts'
import type { Args } from './commands.ts'

/**
 * Dead letters as entries of the dead-letter stream (XADD in the batch's MULTI/EXEC): the pipeline's own
 * (with their source position and raw bytes) and the rows the sink or the server refused (the row as JSON).
 */
export function deadLetterCommand(
  stream: string,
  pipelineId: string,
  batchId: number,
  letter: DeadLetter,
): Args {
  const fields: (string | Buffer)[] = [
    'pipeline',
    pipelineId,
    'batch',
    String(batchId),
    'operator',
    letter.operator,
    'reason',
    letter.reason,
    'partition',
    letter.partition,
    'offset',
    String(letter.offset),
    'timestamp',
    String(letter.timestamp),
  ]
  if (letter.key !== null) fields.push('key', letter.key)
  if (letter.raw !== null) fields.push('raw', letter.raw)
  return ['XADD', stream, '*', ...fields]
}
