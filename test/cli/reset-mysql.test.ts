import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import mysql2 from 'mysql2/promise'
import { runCli } from '../helpers/cli.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { type MariaDb, startMariaDb } from '../helpers/mariadb.ts'

/**
 * `sluice reset --mysql`: a keyed pipeline scaled out into MariaDB keeps its positions (sluice_offsets,
 * sluice_offsets_partitions) and its state (sluice_changelog, sluice_changelog_ends) in the sink's database.
 */

const PARTITIONS = 3
const EVENTS = 2000

let maria: MariaDb
let dir: string
before(async () => {
  maria = await startMariaDb()
  dir = await mkdtemp(join(tmpdir(), 'sluice-reset-my-'))
})
after(async () => {
  await maria?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const conn = await mysql2.createConnection(maria.url)
  try {
    const [rows] = await conn.query<mysql2.RowDataPacket[]>(sql, params)
    return Number(rows[0]?.['n'] ?? 0)
  } finally {
    await conn.end()
  }
}

/** The pipeline's rows in each of the four tables a scaled-out MariaDB sink keeps positions and state in. */
const kept = async (id: string) => ({
  offsets: await count('SELECT count(*) AS n FROM sluice_offsets WHERE pipeline_id = ?', [id]),
  partitions: await count('SELECT count(*) AS n FROM sluice_offsets_partitions WHERE pipeline_id = ?', [id]),
  changelog: await count('SELECT count(*) AS n FROM sluice_changelog WHERE topic = ?', [
    `${id}-seen-changelog`,
  ]),
  ends: await count('SELECT count(*) AS n FROM sluice_changelog_ends WHERE topic = ?', [
    `${id}-seen-changelog`,
  ]),
})

test('reset --mysql deletes the positions and state a MariaDB sink keeps, only the pipeline’s', {
  timeout: 300_000,
}, async () => {
  const topic = await freshTopic('reset-my-in', PARTITIONS)
  const produced = await runCli(
    ['produce', '--brokers', brokers(), '--topic', topic, '--count', String(EVENTS), '--seed', '5'],
    { timeoutMs: 60_000 },
  )
  assert.equal(produced.code, 0, produced.stderr)
  // The second pipeline's id starts with the first's, so its changelog (`<id>-b-seen-changelog`) also starts
  // with `<id>-` and ends with `-changelog`.
  const id = `resetmy${process.pid}`
  const other = `${id}-b`
  const run = async (pipeline: string) => {
    const file = join(dir, `${pipeline}.yaml`)
    await writeFile(
      file,
      `pipeline: ${pipeline}
source:
  kafka: { topics: ${topic}, startingOffsets: earliest }
schema: clickstream-event
watermark: { field: event_time, delay: 30s }
steps:
  - name: seen
    dedupe: { key: event.event_id, within: 10m }
    partitioned: true
  - select: [event_id, user_id, event_type]
sink:
  mysql: { url: '${maria.url}', table: out_${pipeline.replaceAll('-', '_')}, createTable: true }
`,
    )
    const args = ['run', file, '--available-now', '--brokers', brokers(), '--instance', 'a']
    return await runCli([...args, '--checkpoint', join(dir, 'checkpoints', pipeline)], { timeoutMs: 150_000 })
  }
  const table = `out_${id}`
  for (const pipeline of [id, other]) {
    const result = await run(pipeline)
    assert.equal(result.code, 0, result.stderr)
  }
  const written = await count(`SELECT count(*) AS n FROM \`${table}\``)
  assert.ok(written > 0)
  const keptBefore = await kept(id)
  assert.deepEqual(
    { ...keptBefore, changelog: keptBefore.changelog > 0 },
    {
      offsets: 1,
      partitions: PARTITIONS,
      changelog: true,
      ends: PARTITIONS,
    },
  )
  const otherBefore = await kept(other)

  const resetArgs = ['reset', id, '--brokers', brokers(), '--data-dir', dir, '--mysql', maria.url]
  const dryRun = await runCli([...resetArgs, '--dry-run'], { timeoutMs: 60_000 })
  assert.equal(dryRun.code, 0, dryRun.stderr)
  assert.match(dryRun.stdout, /mysql +sluice_offsets +1 row\n/)
  assert.match(dryRun.stdout, new RegExp(`mysql +sluice_offsets_partitions +${PARTITIONS} rows\n`))
  assert.match(
    dryRun.stdout,
    new RegExp(`mysql +sluice_changelog +${keptBefore.changelog} rows? of ${id}-seen-changelog\n`),
  )
  assert.match(
    dryRun.stdout,
    new RegExp(`mysql +sluice_changelog_ends +${PARTITIONS} rows of ${id}-seen-changelog\n`),
  )
  assert.doesNotMatch(dryRun.stdout, new RegExp(`${other}-seen`), "the other pipeline's rows are not listed")
  assert.deepEqual(await kept(id), keptBefore, 'a dry run deletes nothing')

  const reset = await runCli([...resetArgs, '--yes'], { timeoutMs: 60_000 })
  assert.equal(reset.code, 0, reset.stderr)
  assert.deepEqual(await kept(id), { offsets: 0, partitions: 0, changelog: 0, ends: 0 })
  assert.deepEqual(await kept(other), otherBefore, "the other pipeline's rows stay")
  assert.equal(await count(`SELECT count(*) AS n FROM \`${table}\``), written, 'the output rows stay')

  const again = await run(id)
  assert.equal(again.code, 0, again.stderr)
  assert.match(again.stderr, new RegExp(`: ${EVENTS} records in `), 'the pipeline read its input again')
  assert.equal(await count(`SELECT count(*) AS n FROM \`${table}\``), 2 * written)
})
