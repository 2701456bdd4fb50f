import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import mysql2 from 'mysql2/promise'
import { runCli } from '../helpers/cli.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { type MariaDb, startMariaDb } from '../helpers/mariadb.ts'

/** `sluice reset --mysql`: a stateless pipeline scaled out into MariaDB keeps its positions in its tables. */

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

const positions = async (id: string) => ({
  offsets: await count('SELECT count(*) AS n FROM sluice_offsets WHERE pipeline_id = ?', [id]),
  partitions: await count('SELECT count(*) AS n FROM sluice_offsets_partitions WHERE pipeline_id = ?', [id]),
})

test('reset --mysql deletes the positions a MariaDB sink keeps, only the pipeline’s', {
  timeout: 300_000,
}, async () => {
  const topic = await freshTopic('reset-my-in', PARTITIONS)
  const produced = await runCli(
    ['produce', '--brokers', brokers(), '--topic', topic, '--count', String(EVENTS), '--seed', '5'],
    { timeoutMs: 60_000 },
  )
  assert.equal(produced.code, 0, produced.stderr)
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
steps:
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
  assert.deepEqual(await positions(id), { offsets: 1, partitions: PARTITIONS })
  const otherBefore = await positions(other)

  const resetArgs = ['reset', id, '--brokers', brokers(), '--data-dir', dir, '--mysql', maria.url]
  const dryRun = await runCli([...resetArgs, '--dry-run'], { timeoutMs: 60_000 })
  assert.equal(dryRun.code, 0, dryRun.stderr)
  assert.match(dryRun.stdout, /mysql +sluice_offsets +1 row\n/)
  assert.match(dryRun.stdout, new RegExp(`mysql +sluice_offsets_partitions +${PARTITIONS} rows\n`))
  assert.deepEqual(await positions(id), { offsets: 1, partitions: PARTITIONS }, 'a dry run deletes nothing')

  const reset = await runCli([...resetArgs, '--yes'], { timeoutMs: 60_000 })
  assert.equal(reset.code, 0, reset.stderr)
  assert.deepEqual(await positions(id), { offsets: 0, partitions: 0 })
  assert.deepEqual(await positions(other), otherBefore, "the other pipeline's rows stay")
  assert.equal(await count(`SELECT count(*) AS n FROM \`${table}\``), written, 'the output rows stay')

  const again = await run(id)
  assert.equal(again.code, 0, again.stderr)
  assert.match(again.stderr, new RegExp(`: ${EVENTS} records in `), 'the pipeline read its input again')
  assert.equal(await count(`SELECT count(*) AS n FROM \`${table}\``), 2 * written)
})
