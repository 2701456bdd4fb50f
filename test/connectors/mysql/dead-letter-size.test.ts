import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { mysql } from '../../../src/connectors/mysql/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { useMariaDb } from './util.ts'

const db = useMariaDb({ ownServer: true })

describe('mysql sink, a dead letter bigger than a statement may be', () => {
  test('keeps the start of its raw value and says in the reason how it was cut', async () => {
    // 1 MiB packets: statements of at most 960 KiB, raw values of at most half of that.
    await db.query('SET GLOBAL max_allowed_packet = 1048576')
    const huge = `x${'é'.repeat(300_000)}` // 600,001 bytes, not JSON
    const p = pipeline('dlq-size')
      .from(memorySource<string>('dlq-size', ['{"id":1}', huge, '{"id":2}']))
      .parse(z.object({ id: z.number() }))
      .to(mysql<{ id: number }>({ url: db.server.url, table: 'ids', createTable: true }))
    const summary = await run(p, { checkpoint: await db.checkpoint(), trigger: { kind: 'availableNow' } })
    assert.equal(summary.deadLetteredRows, 1)
    assert.deepEqual(await db.query('SELECT id FROM ids ORDER BY id'), [{ id: 1 }, { id: 2 }])
    const [letter] = await db.query<{ reason: string; raw: Buffer }>(
      "SELECT reason, raw FROM sluice_dead_letters WHERE pipeline_id = 'dlq-size'",
    )
    assert.ok(letter)
    const sha = createHash('sha256').update(huge).digest('hex')
    // 491,520 bytes would split an "é": the cut backs off to the character before it.
    assert.equal(letter.raw.length, 491_519)
    assert.ok(Buffer.from(huge).subarray(0, letter.raw.length).equals(letter.raw))
    assert.match(
      letter.reason,
      /^malformed JSON: .*\(raw cut to its first 491519 of 600001 bytes, sha256 ([0-9a-f]{64})\)$/,
    )
    assert.equal(/sha256 ([0-9a-f]{64})/.exec(letter.reason)?.[1], sha)
  })
})
