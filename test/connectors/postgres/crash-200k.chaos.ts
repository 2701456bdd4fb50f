import { describe } from 'node:test'
import { parsePositions } from '../../../src/connectors/sql/index.ts'
import { crash200kTest } from '../sql/crash-200k.ts'
import { clickFromRow } from '../sql/crash-200k-input.ts'
import { tempDir, useDatabase } from './util.ts'

const { db, sql } = useDatabase()

/** Rows of a table that may not exist yet (the child was killed before its first commit). */
async function rows<R extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<R[]> {
  try {
    return await sql<R>(text, params)
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return [] // undefined_table
    throw error
  }
}

describe('postgres sink: SIGKILL during a 200k-event run', () => {
  crash200kTest({
    kind: 'postgres',
    batchRecords: 4000,
    location: () => db().url,
    clicks: async () =>
      (await rows('SELECT * FROM crash_clicks')).map((r) =>
        // The projection after parse declares no types: event_time is text, as the input had it.
        clickFromRow(r, String(r.event_time)),
      ),
    clickIds: async () => (await rows('SELECT event_id FROM crash_clicks')).map((r) => String(r.event_id)),
    counts: async () =>
      (await rows('SELECT key, window_start, events, items FROM crash_counts')).map((r) => ({
        key: String(r.key),
        window_start: (r.window_start as Date).toISOString(),
        events: Number(r.events),
        items: Number(r.items),
      })),
    deadLetters: async (pipelineId) =>
      (
        await rows('SELECT source_partition, source_offset FROM sluice_dead_letters WHERE pipeline_id = $1', [
          pipelineId,
        ])
      ).map((r) => `${r.source_partition}@${r.source_offset}`),
    positions: async (pipelineId) =>
      parsePositions(
        (await rows('SELECT positions FROM sluice_offsets WHERE pipeline_id = $1', [pipelineId]))[0]
          ?.positions ?? {},
      ),
    tempDir,
  })
})
