import assert from 'node:assert/strict'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { z } from 'zod'
import { bytes, RunProgress } from '../../src/cli/run-progress.ts'
import { files } from '../../src/connectors/files/files-source.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import type { BatchProgress } from '../../src/runtime/progress.ts'
import { run } from '../../src/runtime/run.ts'

let dir: string | undefined
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** The lines RunProgress writes, each redraw of the live line as one entry. */
function capture() {
  const lines: string[] = []
  return {
    lines,
    out: {
      write(text: string) {
        // A redraw is "\r" + erase line ("ESC [K"); a printed line ends with "\n".
        for (const part of text.replaceAll(`\r${String.fromCharCode(27)}[K`, '\n').split('\n')) {
          if (part) lines.push(part)
        }
      },
    },
  }
}

test('a 50,000-line file with available-now: progress in bytes reaches the total, the lag goes down to 0', async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-progress-'))
  const path = join(dir, 'events.jsonl')
  const N = 50_000
  await writeFile(path, Array.from({ length: N }, (_, i) => `{"id":${i},"page":"/p/${i % 97}"}\n`).join(''))
  const size = (await stat(path)).size

  const batches: BatchProgress[] = []
  const bar = capture()
  const status = capture()
  const withBar = new RunProgress({ out: bar.out, tty: true, bar: true })
  const withStatus = new RunProgress({ out: status.out, tty: true, bar: false, intervalMs: 0 })
  withBar.start(['lines'])
  withStatus.start(['lines'])
  const sink = memory()
  const summary = await run(
    pipeline('lines')
      .from(files({ path, format: 'jsonl' }))
      .parse(z.object({ id: z.number(), page: z.string() }))
      .to(sink),
    {
      checkpoint: join(dir, 'checkpoint'),
      trigger: { kind: 'availableNow' },
      maxBatchRecords: 10_000,
      onProgress: (p) => {
        batches.push(p)
        withBar.update(p)
        withStatus.update(p)
      },
    },
  )
  assert.equal(summary.inputRows, N)
  assert.equal(sink.rows.length, N)

  // The runtime's figures: bytes, every batch's lag below the one before, 0 after the last batch.
  assert.ok(batches.length >= 5, `several batches (${batches.length})`)
  const lags = batches.map((b) => Object.values(b.sourceLag ?? {}).reduce((a, c) => a + c, 0))
  assert.ok(
    batches.every((b) => b.sourceUnit === 'bytes'),
    'files() counts bytes',
  )
  for (let i = 1; i < lags.length; i++) assert.ok(lags[i]! < lags[i - 1]!, `lag moves: ${lags.join(', ')}`)
  assert.equal(lags.at(-1), 0)
  assert.equal(
    batches.reduce((a, b) => a + b.sourceRead, 0),
    size,
    'the batches read every byte of the file',
  )
  assert.equal(lags[0]! + batches[0]!.sourceRead, size, 'the first lag report is the rest of the file')

  // The bar names its unit and ends at the total; the percentage only grows.
  const total = bytes(size)
  assert.match(total, / MB$/)
  const percents = bar.lines.map((l) => Number(/\]\s+(\d+)%/.exec(l)?.[1]))
  for (let i = 1; i < percents.length; i++) assert.ok(percents[i]! >= percents[i - 1]!, bar.lines.join('\n'))
  assert.ok(percents[0]! < 100, bar.lines[0])
  assert.ok(
    bar.lines.every((l) => l.includes(`/${total}`)),
    `every bar line shows the file's size as the total:\n${bar.lines.join('\n')}`,
  )
  assert.match(bar.lines.at(-1)!, new RegExp(`\\]  100%  ${total}/${total}  .* records/s  ETA 0:00`))
  // The status line of a streaming run says the lag in bytes, down to 0.
  assert.match(status.lines[0]!, /lag \d+(\.\d)? (kB|MB)/)
  assert.match(status.lines.at(-1)!, /lag 0 B/)
})
