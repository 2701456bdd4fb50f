import { describe } from 'node:test'
import { parsePositions } from '../../../src/connectors/sql/index.ts'
import { crash200kTest } from '../sql/crash-200k.ts'
import { clickFromRow } from '../sql/crash-200k-input.ts'
import { useMariaDb, utc } from './util.ts'

const db = useMariaDb()

/** Rows of a table that may not exist yet (the child was killed before its first commit). */
async function rows(sql: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  try {
    return await db.query(sql, values)
  } catch (error) {
    if ((error as { errno?: number }).errno === 1146) return [] // ER_NO_SUCH_TABLE
    throw error
  }
}

const iso = (v: unknown) => new Date(utc(v)).toISOString()

describe('mysql sink: SIGKILL during a 200k-event run', () => {
  crash200kTest({
    kind: 'mysql',
    batchRecords: 4000,
    location: () => db.server.url,
    clicks: async () =>
      // The projection after parse declares no types: event_time is text, as the input had it.
      (await rows('SELECT * FROM crash_clicks')).map((r) => clickFromRow(r, String(r.event_time))),
    clickIds: async () => (await rows('SELECT event_id FROM crash_clicks')).map((r) => String(r.event_id)),
    counts: async () =>
      (await rows('SELECT `key`, window_start, events, items FROM crash_counts')).map((r) => ({
        key: String(r.key),
        window_start: iso(r.window_start),
        events: Number(r.events),
        items: Number(r.items),
      })),
    deadLetters: async (pipelineId) =>
      (
        await rows('SELECT source_partition, source_offset FROM sluice_dead_letters WHERE pipeline_id = ?', [
          pipelineId,
        ])
      ).map((r) => `${r.source_partition}@${r.source_offset}`),
    positions: async (pipelineId) =>
      parsePositions(
        (await rows('SELECT positions FROM sluice_offsets WHERE pipeline_id = ?', [pipelineId]))[0]
          ?.positions ?? {},
      ),
    tempDir: () => db.checkpoint(),
  })
})
