import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe } from 'node:test'
import { DuckDBInstance } from '@duckdb/node-api'
import { parsePositions } from '../../../src/connectors/sql/index.ts'
import { crash200kTest } from '../sql/crash-200k.ts'
import { clickFromRow } from '../sql/crash-200k-input.ts'

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-duckdb-crash-'))
  dirs.push(dir)
  return dir
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

let file = ''
/**
 * Rows of a table that may not exist yet (the child was killed before its first commit). Read-only, and
 * closed again: DuckDB replays the WAL a kill left in memory and leaves it in place, so recovering it stays
 * the next child's work, and the next child can open the file.
 */
async function rows(sql: string): Promise<Record<string, unknown>[]> {
  if (!existsSync(file)) return []
  const db = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' })
  const connection = await db.connect()
  try {
    await connection.run("SET TimeZone = 'UTC'")
    return (await connection.runAndReadAll(sql)).getRowObjects()
  } catch (error) {
    if (/Catalog Error: Table with name \w+ does not exist/.test(String(error))) return []
    throw error
  } finally {
    connection.closeSync()
    db.closeSync()
  }
}

const iso = (column: string) => `strftime("${column}", '%Y-%m-%dT%H:%M:%S.%gZ') AS "${column}"`
const quote = (text: string) => `'${text.replaceAll("'", "''")}'`

describe('duckdb sink: SIGKILL during a 200k-event run', () => {
  crash200kTest({
    kind: 'duckdb',
    batchRecords: 4000,
    location: (dir) => {
      file = join(dir, 'crash.duckdb')
      return file
    },
    clicks: async () =>
      // The projection after parse declares no types: event_time is text, as the input had it.
      (await rows('SELECT * FROM crash_clicks')).map((r) => clickFromRow(r, String(r.event_time))),
    clickIds: async () => (await rows('SELECT event_id FROM crash_clicks')).map((r) => String(r.event_id)),
    counts: async () =>
      (await rows(`SELECT "key", ${iso('window_start')}, events, items FROM crash_counts`)).map((r) => ({
        key: String(r.key),
        window_start: String(r.window_start),
        events: Number(r.events),
        items: Number(r.items),
      })),
    deadLetters: async (pipelineId) =>
      (
        await rows(
          `SELECT source_partition, source_offset FROM sluice_dead_letters WHERE pipeline_id = ${quote(pipelineId)}`,
        )
      ).map((r) => `${r.source_partition}@${r.source_offset}`),
    positions: async (pipelineId) =>
      parsePositions(
        (await rows(`SELECT positions FROM sluice_offsets WHERE pipeline_id = ${quote(pipelineId)}`))[0]
          ?.positions ?? {},
      ),
    tempDir,
  })
})
