import assert from 'node:assert/strict'
import { test } from 'node:test'
import { z } from 'zod'
import { duckdb } from '../../src/connectors/duckdb/index.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { scaleOutBlockers } from '../../src/runtime/scale-out.ts'
import type { SinkSpec } from '../../src/runtime/sink.ts'

/** Why a stateless pipeline from Kafka into a sink that does not scale out runs as one instance. */

const Event = z.object({ id: z.number() })

function blockersInto(sink: SinkSpec<z.infer<typeof Event>>): string[] {
  const plan = pipeline('p')
    .from(kafka({ topics: 'events' }))
    .parse(Event)
    .to(sink).plan
  return scaleOutBlockers(plan)
}

test('into DuckDB it runs as one instance, because DuckDB allows one writing process per database file', () => {
  assert.deepEqual(blockersInto(duckdb({ path: 'data/w.duckdb', table: 't' })), [
    'its sink (duckdb): DuckDB allows one writing process per database file, so the pipeline runs as one instance',
  ])
})
