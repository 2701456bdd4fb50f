import type { BatchProgress } from '../runtime/progress.ts'
import { formatLag } from './run-progress.ts'

/**
 * One pipeline's status after a batch, as `sluice start` and `sluice run` print it every few seconds:
 * "clean-events  batch 42  1234 in/s  1200 out  watermark 10:04:59  state 0  lag 17".
 */
export function statusLine(p: BatchProgress): string {
  const lag = p.sourceLag ? Object.values(p.sourceLag).reduce((a, b) => a + b, 0) : undefined
  const lagText = lag === undefined ? '' : `  lag ${p.sourceUnit === 'bytes' ? formatLag(lag, 'bytes') : lag}`
  return `${p.pipelineId.padEnd(13)} batch ${p.batchId}  ${p.inputRowsPerSecond} in/s  ${p.outputRows} out  watermark ${p.watermark?.slice(11, 19) ?? '-'}  state ${p.stateRows}${lagText}`
}
