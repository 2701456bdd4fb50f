/**
 * A lake writer run in a child process for the SIGKILL tests:
 * node crash-writer.ts <table path or s3:// url> <checkpoint> <count> <per-batch|roll>
 * S3 settings come from the AWS_* environment variables. Prints "batch <id>" per committed batch.
 */
import { lake } from '../../../src/connectors/lake/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { clickstream, type Row } from './data.ts'

const [table, checkpoint, count, mode] = process.argv.slice(2) as [string, string, string, string]
const input = clickstream(Number(count), 77)
await run(
  pipeline('crash-200k')
    .from(memorySource<Row>('e', input))
    .to(
      lake<Row>({
        path: table,
        partitionBy: (e) => ({ event_type: e.event_type as string }),
        ...(mode === 'roll' ? { rollInterval: '1h', targetFileBytes: 1024 * 1024 } : {}),
      }),
    ),
  {
    checkpoint,
    trigger: { kind: 'availableNow' },
    maxBatchRecords: 5000,
    onProgress: (p) => process.stdout.write(`batch ${p.batchId}\n`),
  },
)
