/**
 * An Iceberg lake writer run in a child process for the SIGKILL tests:
 * node crash-writer.ts <table folder> <catalog.db> <checkpoint> <count> <batch records>
 * Prints "batch <id>" per committed batch.
 */
import { lake } from '../../../../src/connectors/lake/index.ts'
import { memorySource } from '../../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../../src/dsl/stream.ts'
import { run } from '../../../../src/runtime/run.ts'
import { clickstream, type Row } from '../data.ts'

const [table, catalog, checkpoint, count, batch] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
]
const input = clickstream(Number(count), 77)
await run(
  pipeline('iceberg-crash')
    .from(memorySource<Row>('e', input))
    .to(
      lake<Row>({
        path: table,
        format: 'iceberg',
        catalog: { sqlite: catalog, table: 'crash.events' },
        partitionBy: ['event_type'],
      }),
    ),
  {
    checkpoint,
    trigger: { kind: 'availableNow' },
    maxBatchRecords: Number(batch),
    onProgress: (p) => process.stdout.write(`batch ${p.batchId}\n`),
  },
)
