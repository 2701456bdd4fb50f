import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import pg from 'pg'
import { runCli } from '../helpers/cli.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts'

/**
 * `sluice reset` of a keyed pipeline scaled out into PostgreSQL: its positions (sluice_offsets,
 * sluice_offsets_partitions) and its state (sluice_changelog, sluice_changelog_ends) live in the sink's
 * database, so deleting the checkpoint, the group and the changelog topics alone does not start it over.
 */

const PARTITIONS = 3
const EVENTS = 3000

let postgres: TestPostgres
let db: pg.Pool
let dir: string
before(async () => {
  postgres = await startPostgres()
  db = new pg.Pool({ connectionString: postgres.url, max: 1 })
  dir = await mkdtemp(join(tmpdir(), 'sluice-reset-pg-'))
})
after(async () => {
  await db?.end()
  await postgres?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** A deduplicating pipeline (keyed state, partitioned: it scales out) into a table of its own. */
function pipelineYaml(id: string, topic: string, table: string): string {
  return `pipeline: ${id}
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
  postgres: { url: '${postgres.url}', table: ${table}, createTable: true }
`
}

async function count(sql: string, params: unknown[] = []): Promise<number> {
  const result = await db.query<{ n: string }>(sql, params)
  return Number(result.rows[0]?.n ?? 0)
}

/** The pipeline's rows in each of the four tables a scaled-out PostgreSQL sink keeps positions and state in. */
interface Kept {
  readonly offsets: number
  readonly partitions: number
  readonly changelog: number
  readonly ends: number
}

async function kept(id: string): Promise<Kept> {
  const topic = `${id}-seen-changelog`
  return {
    offsets: await count('SELECT count(*) AS n FROM sluice_offsets WHERE pipeline_id = $1', [id]),
    partitions: await count('SELECT count(*) AS n FROM sluice_offsets_partitions WHERE pipeline_id = $1', [
      id,
    ]),
    changelog: await count('SELECT count(*) AS n FROM sluice_changelog WHERE topic = $1', [topic]),
    ends: await count('SELECT count(*) AS n FROM sluice_changelog_ends WHERE topic = $1', [topic]),
  }
}

test('reset deletes the positions and state a PostgreSQL sink keeps, and only that pipeline’s', {
  timeout: 400_000,
}, async () => {
  const topic = await freshTopic('reset-pg-in', PARTITIONS)
  const produced = await runCli(
    ['produce', '--brokers', brokers(), '--topic', topic, '--count', String(EVENTS), '--seed', '3'],
    { timeoutMs: 60_000 },
  )
  assert.equal(produced.code, 0, produced.stderr)
  // Two pipelines into the same database; the second's id starts with the first's, so its changelog
  // (`<id>-b-seen-changelog`) also starts with `<id>-` and ends with `-changelog`.
  const id = `resetpg${process.pid}`
  const other = `${id}-b`
  const table = `out_${id}`
  const run = async (pipeline: string, outTable: string) => {
    const file = join(dir, `${pipeline}.yaml`)
    await writeFile(file, pipelineYaml(pipeline, topic, outTable))
    const args = ['run', file, '--available-now', '--brokers', brokers(), '--instance', 'a']
    return await runCli([...args, '--checkpoint', join(dir, 'checkpoints', pipeline)], {
      timeoutMs: 150_000,
    })
  }
  const first = await run(id, table)
  assert.equal(first.code, 0, first.stderr)
  assert.match(first.stderr, new RegExp(`: ${EVENTS} records in `))
  const written = await count(`SELECT count(*) AS n FROM "${table}"`)
  assert.ok(written > 0, 'the first run wrote rows')
  const otherRun = await run(other, `out_${id}_b`)
  assert.equal(otherRun.code, 0, otherRun.stderr)
  const keptBefore = await kept(id)
  const otherBefore = await kept(other)
  assert.equal(keptBefore.partitions, PARTITIONS, JSON.stringify(keptBefore))
  assert.ok(
    keptBefore.changelog > 0,
    `the pipeline's state is in the database: ${JSON.stringify(keptBefore)}`,
  )

  const resetArgs = ['reset', id, '--brokers', brokers(), '--data-dir', dir]

  // Without the database, reset cannot know what the sink keeps: it must not claim a fresh start.
  const blind = await runCli([...resetArgs, '--yes'], { timeoutMs: 60_000 })
  assert.equal(blind.code, 0, blind.stderr)
  assert.doesNotMatch(blind.stdout, /its next run starts from its source's starting offsets\.\n/)
  assert.match(blind.stdout, /sluice_offsets/)
  assert.match(blind.stdout, /--postgres URL/)
  assert.deepEqual(await kept(id), keptBefore, 'without --postgres the database is not touched')
  // So the next run starts where the database has each partition: it reads the input again (the group's
  // offsets are gone), writes none of it, and ends (it had not after 150 s).
  const resumed = await run(id, table)
  assert.equal(resumed.code, 0, resumed.stderr)
  assert.match(resumed.stderr, /: 0 records in /)
  assert.equal(await count(`SELECT count(*) AS n FROM "${table}"`), written, 'nothing written twice')

  const dryRun = await runCli([...resetArgs, '--postgres', postgres.url, '--dry-run'], {
    timeoutMs: 60_000,
  })
  assert.equal(dryRun.code, 0, dryRun.stderr)
  const listed = (name: string, rows: number, of?: string) =>
    new RegExp(`postgres +\\S*\\b${name} +${rows} rows?${of ? ` of ${of.replaceAll('.', '\\.')}` : ''}\n`)
  assert.match(dryRun.stdout, listed('sluice_offsets', 1))
  assert.match(dryRun.stdout, listed('sluice_offsets_partitions', PARTITIONS))
  assert.match(dryRun.stdout, listed('sluice_changelog', keptBefore.changelog, `${id}-seen-changelog`))
  assert.match(dryRun.stdout, listed('sluice_changelog_ends', PARTITIONS, `${id}-seen-changelog`))
  assert.doesNotMatch(dryRun.stdout, new RegExp(`${other}-seen`), "the other pipeline's rows are not listed")
  assert.match(dryRun.stdout, /stay/, 'says what stays')
  assert.doesNotMatch(dryRun.stdout, /postgres:\/\/[^ ]*:[^ @]*@/, 'no password shown')
  assert.deepEqual(await kept(id), keptBefore, 'a dry run deletes nothing')

  const reset = await runCli([...resetArgs, '--postgres', postgres.url, '--yes'], { timeoutMs: 60_000 })
  assert.equal(reset.code, 0, reset.stderr)
  assert.deepEqual(await kept(id), { offsets: 0, partitions: 0, changelog: 0, ends: 0 })
  assert.deepEqual(await kept(other), otherBefore, "the other pipeline's rows stay")
  assert.equal(await count(`SELECT count(*) AS n FROM "${table}"`), written, 'the output rows stay')
  assert.match(reset.stdout, /starts from its source's starting offsets/)

  // The next run starts over: all the input again, none of it a duplicate of the deleted state.
  const again = await run(id, table)
  assert.equal(again.code, 0, again.stderr)
  assert.match(again.stderr, new RegExp(`: ${EVENTS} records in `), 'the pipeline read its input again')
  assert.equal(await count(`SELECT count(*) AS n FROM "${table}"`), 2 * written, 'and wrote it again')
})
