/**
 * Each kind of row a table cannot take, between two good rows, into each table sink (PostgreSQL, MariaDB,
 * DuckDB, the Parquet lake), as a pipeline without a parse step hands them over: whether the run went on,
 * how long it took, the process's memory after it, and the dead letter's reason (issue 12, item 5).
 *
 *   node bench/sinks/hostile-rows.ts [--kind wide-100k,…] [--sink postgres,…]
 *
 * Uses DATABASE_URL / MYSQL_URL when set, otherwise private servers like the tests.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { duckdb } from '../../src/connectors/duckdb/index.ts'
import { lake } from '../../src/connectors/lake/lake.ts'
import { mysql } from '../../src/connectors/mysql/index.ts'
import { postgres } from '../../src/connectors/postgres/index.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import type { SinkSpec } from '../../src/runtime/sink.ts'
import { startMariaDb } from '../../test/helpers/mariadb.ts'
import { startPostgres } from '../../test/helpers/postgres.ts'

const { values: args } = parseArgs({
  options: { kind: { type: 'string' }, sink: { type: 'string' } },
})

function nested(depth: number): unknown {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) value = { d: value }
  return value
}

function wide(n: number): Record<string, number> {
  const row: Record<string, number> = { id: 99 }
  for (let i = 0; i < n; i++) row[`f${i}`] = i
  return row
}

const circular: Record<string, unknown> = { id: 98 }
circular.self = circular

const KINDS: Record<string, () => unknown> = {
  'null row (first)': () => null,
  'number row': () => 42,
  'array row': () => [1, 2],
  'NUL in a name': () => ({ id: 2, 'a\u0000b': 1 }),
  'empty name': () => ({ id: 3, '': 1 }),
  '70-char name': () => ({ id: 4, ['n'.repeat(70)]: 1 }),
  'NAME beside name': () => ({ id: 5, name: 'x', NAME: 'y' }),
  'emoji in a name': () => ({ id: 6, 'a😀': 1 }),
  '2,000 fields': () => wide(2000),
  '100,000 fields': () => wide(100_000),
  'nested 100,000 deep': () => ({ id: 7, meta: nested(100_000) }),
  circular: () => circular,
}
const SINKS = ['postgres', 'mysql', 'duckdb', 'lake'] as const

const kinds = args.kind ? args.kind.split(',') : Object.keys(KINDS)
const sinks = args.sink ? args.sink.split(',') : [...SINKS]
const pg = sinks.includes('postgres') ? await startPostgres() : undefined
const maria = sinks.includes('mysql') ? await startMariaDb() : undefined
const dir = await mkdtemp(join(tmpdir(), 'sluice-hostile-'))
try {
  for (const kind of kinds) {
    const make = KINDS[kind]
    if (!make) throw new Error(`no kind ${kind}: ${Object.keys(KINDS).join(', ')}`)
    for (const sinkKind of sinks) {
      const table = `t${kinds.indexOf(kind)}`
      const sink: SinkSpec<unknown> =
        sinkKind === 'postgres'
          ? postgres({ url: pg!.url, table, createTable: true })
          : sinkKind === 'mysql'
            ? mysql({ url: maria!.url, table, createTable: true })
            : sinkKind === 'duckdb'
              ? duckdb({ path: join(dir, 'w.duckdb'), table })
              : lake({ path: join(dir, table) })
      const good = [
        { id: 1, name: 'a', price: 1.5, meta: { ok: true } },
        { id: 9, name: 'b', price: 2 },
      ]
      const rows = kind.includes('(first)') ? [make(), ...good] : [good[0], make(), good[1]]
      const reasons: string[] = []
      const started = performance.now()
      let outcome: string
      try {
        const summary = await run(
          pipeline(`hostile-${sinkKind}-${table}`).from(memorySource('rows', rows)).to(sink),
          {
            checkpoint: join(dir, 'checkpoints', `${sinkKind}-${table}`),
            trigger: { kind: 'availableNow' },
            onDeadLetters: (letters) => reasons.push(...letters.map((d) => d.reason)),
          },
        )
        outcome = `went on: ${summary.outputRows} written, ${summary.deadLetteredRows} dead-lettered`
      } catch (error) {
        outcome = `STOPPED: ${(error as Error).message.split('\n')[0]?.slice(0, 150)}`
      }
      const ms = Math.round(performance.now() - started)
      const rss = Math.round(process.memoryUsage().rss / 1e6)
      const reason = reasons[0] === undefined ? '' : ` | ${reasons[0].slice(0, 140)}`
      console.log(
        `${kind.padEnd(20)} ${sinkKind.padEnd(9)} ${String(ms).padStart(6)} ms ${String(rss).padStart(5)} MB  ${outcome}${reason}`,
      )
    }
  }
} finally {
  await pg?.stop()
  await maria?.stop()
  await rm(dir, { recursive: true, force: true })
}
