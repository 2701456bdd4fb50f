import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { z } from 'zod'
import { KafkaConsumer } from '../../../src/connectors/kafka/consumer.ts'
import { withKafkaDeadLetters } from '../../../src/connectors/kafka/dead-letters.ts'
import type { ConsumedRecord } from '../../../src/connectors/kafka/records.ts'
import { lake } from '../../../src/connectors/lake/lake.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { UsageError } from '../../../src/errors.ts'
import { run } from '../../../src/runtime/run.ts'
import type { DeadLetter } from '../../../src/runtime/sink.ts'
import { brokers, freshTopic, uniqueGroup } from '../../helpers/kafka.ts'
import {
  assertReasons,
  circular,
  commonHostile,
  goodRows,
  type Hostile,
  nested,
  runHostile,
  wide,
} from '../sql/hostile-rows.ts'
import { logEntries, readTable, sortRows, tempDir } from './helpers.ts'

const availableNow = { kind: 'availableNow' } as const

/** What the Parquet files of a table say their columns are (read by DuckDB, not by Sluice). */
async function parquetTypes(path: string): Promise<Record<string, string[]>> {
  const instance = await DuckDBInstance.create(':memory:')
  const connection = await instance.connect()
  try {
    const reader = await connection.runAndReadAll(
      `SELECT name, type, logical_type::VARCHAR AS logical FROM parquet_schema('${path}/**/*.parquet') WHERE name <> 'duckdb_schema'`,
    )
    const out: Record<string, string[]> = {}
    for (const r of reader.getRowObjectsJS()) {
      const name = String(r.name)
      const type = String(r.type)
      out[name] = [...new Set([...(out[name] ?? []), type])].sort()
    }
    return out
  } finally {
    connection.closeSync()
    instance.closeSync()
  }
}

const hostile: Hostile[] = [
  ...commonHostile,
  {
    kind: 'a field that differs from another only in case',
    row: { id: 103, NAME: 'x' },
    reason:
      /^field "NAME" and column "name" differ only in case, which the Parquet writer \(DuckDB\) does not tell apart$/,
  },
  {
    kind: '1700 fields',
    row: wide(104, 1700),
    reason:
      /^the row's new field\(s\) "f0", "f1", "f2", "f3", "f4" and 1695 more would give the data file more than 1600 columns \(maxColumns; it has 4\)$/,
  },
  {
    kind: 'nested 100,000 levels',
    row: { id: 105, name: 'deep', meta: nested(100_000) },
    reason: /^field "meta": the value is nested deeper than 1000 levels \(or circular\)$/,
  },
  {
    kind: 'nested 1,500 levels (JSON.stringify could, the roll spool could not read it back)',
    row: { id: 106, name: 'deep', meta: nested(1500) },
    reason: /^field "meta": the value is nested deeper than 1000 levels \(or circular\)$/,
  },
  {
    kind: 'circular value',
    row: circular(107),
    reason: /^field "meta": the value is nested deeper than 1000 levels \(or circular\)$/,
  },
]

describe('lake sink: rows a data file cannot take are dead letters, the pipeline goes on', () => {
  for (const rollInterval of [undefined, '1h'] as const) {
    test(`not an object, names DuckDB refuses or confuses, past maxColumns, too deep, circular${rollInterval ? ' (rolled)' : ''}`, async () => {
      const path = join(await tempDir(), 'table')
      const good = [{ id: 50, name: 'meta', price: 1, meta: { ok: true } }, ...goodRows(12)]
      const { reported } = await runHostile(
        `lake-hostile${rollInterval ? '-roll' : ''}`,
        lake({ path, ...(rollInterval ? { rollInterval } : {}) }),
        hostile,
        good,
        await tempDir(),
      )
      assertReasons(
        hostile,
        reported.map((d) => d.reason),
      )
      assert.ok(reported.every((d) => d.operator === 'sink' && d.offset === -1))
      assert.equal(reported[0]?.raw, 'null')
      assert.equal(sortRows(await readTable(path)).length, good.length)
      assert.deepEqual(sortRows(await readTable(path)), sortRows(good))
    })
  }

  test('JSON lines: not an object, a bigint (JSON has none), too deep; field names are only JSON', async () => {
    const path = join(await tempDir(), 'jsonl')
    const jsonlHostile: Hostile[] = [
      { kind: 'null row', row: null, reason: /^the row is null/ },
      {
        kind: 'bigint',
        row: { id: 101, big: 10n },
        reason: /^field "big": a bigint cannot be written as JSON$/,
      },
      {
        kind: 'bigint inside',
        row: { id: 102, meta: { n: [1n] } },
        reason: /^field "meta": a bigint inside cannot be written as JSON$/,
      },
      { kind: 'deep', row: { id: 103, meta: nested(5000) }, reason: /nested deeper than 1000 levels/ },
    ]
    const good = [{ id: 1, 'a\u0000b': 1, NAME: 2, name: 3 }, ...goodRows(3)]
    const { reported } = await runHostile(
      'lake-hostile-jsonl',
      lake({ path, format: 'jsonl' }),
      jsonlHostile,
      good,
      await tempDir(),
    )
    assertReasons(
      jsonlHostile,
      reported.map((d) => d.reason),
    )
  })

  test('spooled batches whose columns together would not fit one file are rolled apart', async () => {
    const path = join(await tempDir(), 'spooled')
    const batches = [
      [{ id: 1, name: 'a', a0: 1, a1: 2 }],
      [{ id: 2, NAME: 'b' }], // "name" and "NAME" in one file: DuckDB would refuse the whole roll
      [{ id: 3, b0: 1, b1: 2, b2: 3, b3: 4 }], // with the batch before: 6 columns, past maxColumns 5
    ]
    const summary = await run(
      pipeline('lake-spooled')
        .from(memorySource('rows', batches.flat()))
        .to(lake({ path, rollInterval: '1h', maxColumns: 5 })),
      { checkpoint: await tempDir(), trigger: availableNow, maxBatchRecords: 1 },
    )
    assert.equal(summary.deadLetteredRows, 0)
    assert.deepEqual(sortRows(await readTable(path)), sortRows(batches.flat()))
    // Three rolls: each batch alone (a roll before the second and the third batch, the last at close).
    assert.deepEqual(
      (await logEntries(path)).map((e) => [e.firstBatchId, e.batchId]),
      [
        [0, 0],
        [1, 1],
        [2, 2],
      ],
    )
    assert.throws(() => lake({ path, maxColumns: 0 }), UsageError)
  })

  test('withKafkaDeadLetters sends the refused rows to the topic with their reasons', async () => {
    const topic = await freshTopic('lake-dlq')
    const path = join(await tempDir(), 'teed')
    const rows = [{ id: 1 }, null, { id: 2, '': 1 }, { id: 3 }]
    const seen: DeadLetter[] = []
    await run(
      pipeline('lake-teed')
        .from(memorySource('rows', rows))
        .to(withKafkaDeadLetters(lake({ path }), { brokers: brokers(), topic })),
      { checkpoint: await tempDir(), trigger: availableNow, onDeadLetters: (d) => seen.push(...d) },
    )
    assert.equal(seen.length, 2)
    const consumer = new KafkaConsumer({
      brokers: brokers(),
      groupId: uniqueGroup('lake-dlq'),
      topics: [topic],
      start: { from: 'earliest' },
    })
    const letters: ConsumedRecord[] = []
    try {
      for await (const batch of consumer.batches({
        maxRecords: 100,
        lingerMs: 50,
        idleMs: 500,
        signal: AbortSignal.timeout(60_000),
      })) {
        letters.push(...batch)
        if (letters.length >= 2) break
      }
    } finally {
      await consumer.close()
    }
    const header = (r: ConsumedRecord, name: string) =>
      [...r.headers].find(([k]) => k.toString() === name)?.[1].toString()
    assert.deepEqual(
      letters.map((r) => [
        r.value?.toString(),
        header(r, 'sluice-dlq-reason'),
        header(r, 'sluice-dlq-operator'),
      ]),
      [
        ['null', 'the row is null, not an object with one field per column', 'sink'],
        ['{"id":2,"":1}', 'field "": the empty string is not a column name', 'sink'],
      ],
    )
    assert.deepEqual(sortRows(await readTable(path)), [{ id: 1 }, { id: 3 }])
  })
})

describe('lake sink: column types', () => {
  test('numbers are DOUBLE in every file, whole or not; INT64 where the schema says integer', async () => {
    const path = join(await tempDir(), 'numbers')
    // One file of whole sums, one with cents: before, the first was INT32 and readers of the folder cast the
    // second to it (19.99 read as 20).
    const rows = [
      { day: 'a', total: 20, n: 1 },
      { day: 'b', total: 19.99, n: 2 },
    ]
    await run(
      pipeline('lake-numbers')
        .from(memorySource('rows', rows))
        .to(lake({ path, partitionBy: ['day'] })),
      { checkpoint: await tempDir(), trigger: availableNow },
    )
    assert.deepEqual((await parquetTypes(path)).total, ['DOUBLE'])
    const instance = await DuckDBInstance.create(':memory:')
    const connection = await instance.connect()
    try {
      const reader = await connection.runAndReadAll(
        `SELECT round(sum(total), 2) AS s FROM read_parquet('${path}/**/*.parquet')`,
      )
      assert.deepEqual(reader.getRowObjectsJS(), [{ s: 39.99 }])
    } finally {
      connection.closeSync()
      instance.closeSync()
    }

    const typed = join(await tempDir(), 'typed')
    await run(
      pipeline('lake-typed')
        .from(memorySource('rows', rows))
        .parse(z.object({ day: z.string(), total: z.number(), n: z.int() }))
        .to(lake({ path: typed, partitionBy: ['day'] })),
      { checkpoint: await tempDir(), trigger: availableNow },
    )
    const types = await parquetTypes(typed)
    assert.deepEqual([types.total, types.n], [['DOUBLE'], ['INT64']])
    // Read back through the lake: the rows as written (INT64 comes back as a number, not a bigint).
    assert.deepEqual(sortRows(await readTable(typed)), sortRows(rows))
  })
})
