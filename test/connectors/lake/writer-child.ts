/** A lake writer run in a child process, for the SIGKILL test: node writer-child.ts <table> <checkpoint> <count>. */
import { lake } from '../../../src/connectors/lake/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { clickstream, type Row } from './data.ts'

const [table, checkpoint, count] = process.argv.slice(2) as [string, string, string]
const input = clickstream(Number(count), 23)
await run(
  pipeline('killed')
    .from(memorySource<Row>('e', input))
    .to(lake<Row>({ path: table, partitionBy: (e) => ({ event_type: e.event_type as string }) })),
  { checkpoint, trigger: { kind: 'availableNow' }, maxBatchRecords: 400 },
)
