/**
 * One instance of a keyed pipeline for restore.ts: per Kafka record key, a count (keyed state), into a Kafka
 * topic (or, with $DATABASE_URL, a PostgreSQL table; with $MYSQL_URL, a MariaDB/MySQL one), scaled out (its
 * state in changelog topics, or tables). Runs to the end of the input (availableNow) and logs at
 * info level, so its restore line ("restored N task(s) … in X ms") is on stderr. Usage:
 * node restore-instance.ts <input> <output> <pipeline id> <instance> <checkpoint> (brokers from $KAFKA_BROKERS).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { kafkaSink } from '../../src/connectors/kafka/sink.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { mysql } from '../../src/connectors/mysql/index.ts'
import { postgres } from '../../src/connectors/postgres/index.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { createLogger } from '../../src/log.ts'
import { run } from '../../src/runtime/run.ts'

// Heartbeats go out from the event loop: a restore that holds it longer than the session timeout (10 s)
// costs the instance its membership. The longest stall is printed with the summary.
const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()

const [input, output, id, instance, checkpoint] = process.argv.slice(2)
if (!input || !output || !id || !instance || !checkpoint)
  throw new Error('usage: restore-instance.ts <input> <output> <pipeline id> <instance> <checkpoint>')
const summary = await run(
  pipeline(id)
    .from(kafka({ topics: input }))
    .keyByRecordKey()
    .process<number, never>({ init: () => 0, process: (seen) => seen + 1 })
    // DATABASE_URL (MYSQL_URL) set: into PostgreSQL (MariaDB/MySQL), the table <output>, the state in that
    // database.
    .to(
      process.env.DATABASE_URL
        ? postgres({ table: output.replaceAll('-', '_'), createTable: true })
        : process.env.MYSQL_URL
          ? mysql({ table: output.replaceAll('-', '_'), createTable: true })
          : kafkaSink({ topic: output }),
    ),
  {
    checkpoint,
    instance,
    trigger: { kind: 'availableNow' },
    logger: createLogger({ level: 'info' }),
  },
)
loop.disable()
const longestStallMs = Math.round(loop.max / 1e6)
process.stdout.write(`${JSON.stringify({ ...summary, longestStallMs })}\n`)
