import assert from 'node:assert/strict'
import { appendFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { files } from '../../../src/connectors/files/index.ts'
import { memory } from '../../../src/connectors/testing/memory.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { tempDir, waitFor } from './helpers.ts'

const Row = z.object({ id: z.number(), src: z.string() })
type Row = z.output<typeof Row>

const line = (row: Row) => `${JSON.stringify(row)}\n`

describe('files({ watch: true }) through the runtime', () => {
  test('appended lines and new files reach the sink while a continuous run is going', {
    timeout: 15_000,
  }, async () => {
    const dir = await tempDir()
    const first: Row[] = [
      { id: 1, src: 'a' },
      { id: 2, src: 'a' },
    ]
    await writeFile(join(dir, 'a.jsonl'), first.map(line).join(''))
    const sink = memory<Row>()
    const controller = new AbortController()
    const running = run(
      pipeline('files-watch')
        .from(files({ path: dir, format: 'jsonl', watch: true, pollIntervalMs: 20 }))
        .parse(Row)
        .to(sink),
      {
        trigger: { kind: 'continuous' },
        checkpoint: await tempDir('sluice-ckpt-'),
        signal: controller.signal,
      },
    )
    try {
      await waitFor(() => sink.rows.length >= 2, 5_000, 'the first two rows')
      // A line written in two parts: nothing of it is delivered before its line break.
      await appendFile(join(dir, 'a.jsonl'), '{"id":3,')
      await new Promise((resolve) => setTimeout(resolve, 150))
      assert.equal(sink.rows.length, 2)
      await appendFile(join(dir, 'a.jsonl'), `"src":"a"}\n${line({ id: 4, src: 'a' })}`)
      await mkdir(join(dir, 'later'))
      await writeFile(join(dir, 'later', 'b.jsonl'), line({ id: 5, src: 'b' }) + line({ id: 6, src: 'b' }))
      await waitFor(() => sink.rows.length >= 6, 5_000, 'the appended and new rows')
    } finally {
      controller.abort()
    }
    const summary = await running
    assert.deepEqual(
      [...sink.rows].sort((x, y) => x.id - y.id),
      [1, 2, 3, 4, 5, 6].map((id) => ({ id, src: id <= 4 ? 'a' : 'b' })),
    )
    assert.equal(summary.inputRows, 6)
    assert.deepEqual(sink.deadLetters, [])
  })
})
