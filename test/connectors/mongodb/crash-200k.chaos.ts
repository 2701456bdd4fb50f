import { describe } from 'node:test'
import { crash200kTest } from '../sql/crash-200k.ts'
import type { Click, WindowCount } from '../sql/crash-200k-input.ts'
import { positionsOf, tempDir, useFerretDb } from './util.ts'

const { server, db } = useFerretDb()

/** A document of crash_clicks as a Click: the row's fields, without the _id the sink made. */
function clickOf({ _id, ...fields }: Record<string, unknown>): Click {
  return fields as unknown as Click
}

describe('mongodb sink (FerretDB, idempotent writes): SIGKILL during a 200k-event run', () => {
  crash200kTest({
    kind: 'mongodb',
    batchRecords: 4000,
    location: () => `${server().url}${server().database}`,
    clicks: async () => (await db().collection('crash_clicks').find().toArray()).map(clickOf),
    clickIds: async () =>
      (
        await db()
          .collection('crash_clicks')
          .find({}, { projection: { event_id: 1 } })
          .toArray()
      ).map((d) => d.event_id as string),
    counts: async () =>
      (await db().collection('crash_counts').find().toArray()).map(
        (d): WindowCount => ({
          key: d.key,
          window_start: new Date(d.window_start).toISOString(),
          events: d.events,
          items: d.items,
        }),
      ),
    deadLetters: async (pipelineId) =>
      (await db().collection('sluice_dead_letters').find({ pipeline: pipelineId }).toArray()).map(
        (d) => `${d.partition}@${d.offset}`,
      ),
    positions: async (pipelineId) => (await positionsOf(db(), pipelineId)).positions,
    tempDir,
    rowsAheadOfPositions: true,
    // FerretDB decodes every document of a find in Go: reading crash_clicks back after a late kill took 40-53 s
    // at load 9, 67-141 s at load 15-21. Its upsert by an object _id reads the whole collection too, so the counts pipeline runs
    // ~9 s a batch late in the run: a run to a late kill took 133 s of the default 150 s, a last run 190 s
    // (the whole test 645 s at load 9, 1,012 s at load 15-21).
    timeoutMs: 1_800_000,
    stuckMs: 300_000,
  })
})
