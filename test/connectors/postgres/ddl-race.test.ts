import assert from 'node:assert/strict'
import { test } from 'node:test'
import { postgres } from '../../../src/connectors/postgres/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { tempDir, useDatabase } from './util.ts'

const { db, sql } = useDatabase()

// Two sessions racing on CREATE TABLE IF NOT EXISTS: the loser may get 42710 ("type … already exists", the
// table's row type) rather than 42P07. Several pipelines opening at once in an empty database (the main job's
// first start) must all succeed. Before the fix this failed in about 4 tries out of 30 with four pipelines.
test('pipelines creating their tables (and the shared offsets and dead-letter tables) at once all start', async () => {
  const tables = ['race_a', 'race_b', 'race_c', 'race_d']
  for (let attempt = 0; attempt < 15; attempt++) {
    await sql(`DROP TABLE IF EXISTS sluice_offsets, sluice_dead_letters, ${tables.join(', ')}`)
    const results = await Promise.allSettled(
      tables.map(async (table) =>
        run(
          pipeline(`race-${table}`)
            .from(memorySource('r', [{ value: { id: attempt }, partition: 'p0' }]))
            .to(postgres({ url: db().url, table, createTable: true })),
          { checkpoint: await tempDir(), trigger: { kind: 'availableNow' } },
        ),
      ),
    )
    const failed = results.filter((r) => r.status === 'rejected')
    assert.deepEqual(failed, [], `attempt ${attempt}`)
    for (const table of tables) assert.deepEqual(await sql(`SELECT id FROM ${table}`), [{ id: attempt }])
  }
})
