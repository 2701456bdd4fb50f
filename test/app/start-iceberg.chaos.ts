import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { readWithPyIceberg } from '../connectors/lake/iceberg/pyiceberg.ts'
import { runCli } from '../helpers/cli.ts'
import { brokers } from '../helpers/kafka.ts'

let dir: string | undefined
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

const lakeLine = /^Lake .*: (\d+) events\.$/m
const writtenLine = (ns: string) =>
  new RegExp(`^${ns.replaceAll('.', '\\.')}clean-events\\s+\\d+ processed, (\\d+) written`, 'm')

/** PyIceberg (an independent reader) reads the table: its row count, each event once. */
async function icebergRows(dataDir: string): Promise<number> {
  const scan = await readWithPyIceberg(join(dataDir, 'lake', 'iceberg', 'catalog.db'), 'sluice.events')
  const ids = new Set(scan.rows.map((r) => r.event_id))
  assert.equal(ids.size, scan.rows.length, 'no event is in the Iceberg table twice')
  return scan.rows.length
}

test('sluice start --lake-format iceberg writes the clean events as an Iceberg table that sluice query and PyIceberg read, and resumes', async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-start-iceberg-'))
  const ns = `i${process.pid}-${Date.now()}.`
  const args = [
    'start',
    '--lake-format',
    'iceberg',
    '--duration',
    '6s',
    '--rate',
    '300',
    '--history',
    '0',
    '--no-ui',
    '--data-dir',
    dir,
    '--brokers',
    brokers(),
    '--namespace',
    ns,
  ]
  const first = await runCli(args, { timeoutMs: 90_000 })
  assert.equal(first.code, 0, first.stderr)
  assert.match(first.stderr, /lake: +.*Iceberg table sluice\.events in the SQL catalog .*catalog\.db/)
  const lake = Number(lakeLine.exec(first.stdout)?.[1])
  assert.ok(lake > 0, first.stdout)
  assert.equal(lake, Number(writtenLine(ns).exec(first.stdout)?.[1]), first.stdout)
  assert.equal(await icebergRows(dir), lake)

  const query = await runCli(
    [
      'query',
      '--json',
      '--data-dir',
      dir,
      'SELECT count(*) AS n, count(DISTINCT event_id) AS ids, count(DISTINCT event_date) > 0 AS dated FROM events',
    ],
    { timeoutMs: 30_000 },
  )
  assert.equal(query.code, 0, query.stderr)
  assert.deepEqual(JSON.parse(query.stdout), { n: lake, ids: lake, dated: true })

  const second = await runCli(args, { timeoutMs: 90_000 })
  assert.equal(second.code, 0, second.stderr)
  const grown = Number(lakeLine.exec(second.stdout)?.[1])
  assert.equal(
    grown,
    lake + Number(writtenLine(ns).exec(second.stdout)?.[1]),
    'the table grew by the second run only',
  )
  assert.equal(await icebergRows(dir), grown)
  const again = await runCli(['query', '--json', '--data-dir', dir, 'SELECT count(*) AS n FROM events'], {
    timeoutMs: 30_000,
  })
  assert.deepEqual(JSON.parse(again.stdout), { n: grown })
  const parquet = await runCli(
    ['query', '--json', '--lake-format', 'parquet', '--data-dir', dir, 'SELECT count(*) AS n FROM events'],
    { timeoutMs: 30_000 },
  )
  assert.notEqual(parquet.code, 0, 'no Parquet lake was written: the view is missing')
})
