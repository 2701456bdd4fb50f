import assert from 'node:assert/strict'
import { test } from 'node:test'
import { z } from 'zod'
import { duckdb } from '../../src/connectors/duckdb/index.ts'
import { withKafkaDeadLetters } from '../../src/connectors/kafka/dead-letters.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { lake } from '../../src/connectors/lake/index.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { scaleOutBlockers } from '../../src/runtime/scale-out.ts'
import type { SinkSpec } from '../../src/runtime/sink.ts'

/** Which sinks let a stateless pipeline from Kafka run as several instances, and why the others do not. */

const Event = z.object({ id: z.number() })

function blockersInto(sink: SinkSpec<z.infer<typeof Event>>): string[] {
  const plan = pipeline('p')
    .from(kafka({ topics: 'events' }))
    .parse(Event)
    .to(sink).plan
  return scaleOutBlockers(plan)
}

test('a stateless pipeline scales out into a Parquet or JSON-lines lake table', () => {
  assert.deepEqual(blockersInto(lake({ path: 'data/lake/t' })), [])
  assert.deepEqual(blockersInto(lake({ path: 'data/lake/t', format: 'jsonl' })), [])
})

test('into DuckDB it runs as one instance, because DuckDB allows one writing process per database file', () => {
  assert.deepEqual(blockersInto(duckdb({ path: 'data/w.duckdb', table: 't' })), [
    'its sink (duckdb): DuckDB allows one writing process per database file, so the pipeline runs as one instance',
  ])
})

test('a lake table with scaleOut: false, with rollInterval, or an Iceberg table runs as one instance, and says why', () => {
  const [rolled] = blockersInto(lake({ path: 'data/lake/t', rollInterval: '5m' }))
  assert.match(
    rolled ?? '',
    /^its sink \(lake\): with rollInterval a batch commits into the instance's own roll spool/,
  )
  const [iceberg] = blockersInto(
    lake({ path: 'data/lake/t', format: 'iceberg', catalog: { sqlite: 'data/catalog.db', table: 'ns.t' } }),
  )
  assert.match(
    iceberg ?? '',
    /^its sink \(lake\): an Iceberg table keeps the pipeline's position in its snapshots/,
  )
  assert.deepEqual(blockersInto(lake({ path: 'data/lake/t', scaleOut: false })), [
    'its sink (lake): lake({ scaleOut: false }) keeps one writer for the whole pipeline',
  ])
})

test('dead letters sent to Kafka beside a sink keep what the sink says about scaling out', () => {
  assert.deepEqual(blockersInto(withKafkaDeadLetters(lake({ path: 'data/lake/t' }), { topic: 'dlq' })), [])
  // Before, the wrapper dropped both: every wrapped sink "kept one position for the whole pipeline".
  assert.deepEqual(
    blockersInto(withKafkaDeadLetters(duckdb({ path: 'data/w.duckdb', table: 't' }), { topic: 'dlq' })),
    [
      'its sink (duckdb): DuckDB allows one writing process per database file, so the pipeline runs as one instance',
    ],
  )
})
