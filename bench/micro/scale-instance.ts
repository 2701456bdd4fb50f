/**
 * One instance of a stateless pipeline (Kafka → Kafka, exactly-once) for rebalance-pause.ts: prints
 * `commit <epoch ms> <records>` after each committed batch. Usage: node scale-instance.ts <input> <output>
 * <pipeline id> <instance> <checkpoint> (brokers from $KAFKA_BROKERS).
 */
import { z } from 'zod'
import { kafkaSink } from '../../src/connectors/kafka/sink.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'

const [input, output, id, instance, checkpoint] = process.argv.slice(2)
if (!input || !output || !id || !instance || !checkpoint)
  throw new Error('usage: scale-instance.ts <input> <output> <pipeline id> <instance> <checkpoint>')
const stop = new AbortController()
process.on('SIGTERM', () => stop.abort())
await run(
  pipeline(id)
    .from(kafka({ topics: input }))
    .parse(z.object({ id: z.number() }))
    .map((e) => ({ id: e.id, by: instance }))
    .to(kafkaSink({ topic: output })),
  {
    checkpoint,
    instance,
    trigger: { kind: 'processingTime', intervalMs: 100 },
    signal: stop.signal,
    onProgress: (p) => {
      if (p.inputRows > 0) process.stdout.write(`commit ${Date.now()} ${p.inputRows}\n`)
    },
  },
)
