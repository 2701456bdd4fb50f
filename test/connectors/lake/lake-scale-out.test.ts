import assert from 'node:assert/strict'
import { mkdir, rename } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { describe, test } from 'node:test'
import { lake } from '../../../src/connectors/lake/index.ts'
import { stagedKey } from '../../../src/connectors/lake/log.ts'
import type { OutputBatch } from '../../../src/runtime/sink.ts'
import { listAll, logEntries, type Row, readTable, tempDir, visibleDataFiles } from './helpers.ts'
import { commit, input, inputs, instance, source } from './instances.ts'

/**
 * Instances of a stateless pipeline sharing a topic's partitions write one lake table, each as its own writer:
 * entries commit their batch's partitions only, and a commit of a partition another instance committed since
 * this one read it is fenced through the log's order.
 */

describe('a lake table written by instances sharing the source partitions', () => {
  test('each instance commits its own partitions; a partition another instance committed since it was read is fenced', async () => {
    const table = join(await tempDir(), 't')
    const a = await instance({ path: table, format: 'jsonl' }, 'a')
    const b = await instance({ path: table, format: 'jsonl' }, 'b')
    assert.deepEqual(await a.positions.read(['t:0', 't:1']), {})
    assert.deepEqual(await b.positions.read(['t:2']), {})
    // Both start their batch ids at 0: different writers, different files.
    await commit(a.sink, 0, [['t:0', 0, 3]], {})
    await commit(b.sink, 0, [['t:2', 0, 2]], {})
    await commit(
      a.sink,
      1,
      [
        ['t:0', 3, 5],
        ['t:1', 0, 2],
      ],
      { 't:0': 3 },
    )
    const entries = await logEntries(table)
    assert.deepEqual(
      entries.map((e) => [e.writer, e.batchId, e.partitions, e.end]),
      [
        ['p@a', 0, ['t:0'], { 't:0': 3 }],
        ['p@b', 0, ['t:2'], { 't:2': 2 }],
        ['p@a', 1, ['t:0', 't:1'], { 't:0': 5, 't:1': 2 }],
      ],
    )

    // t:0 moves to b, which reads where the table has it and commits it: a still believes it owns t:0 (a zombie).
    assert.deepEqual(await b.positions.read(['t:0']), { 't:0': 5 })
    await commit(b.sink, 1, [['t:0', 5, 8]], { 't:0': 5 })
    // a has not read the log since: its first attempt loses the version to b's entry, then the check fences it.
    await assert.rejects(commit(a.sink, 2, [['t:0', 5, 8]], { 't:0': 5 }), {
      code: 'SLUICE_SINK_FENCED',
      message: /partition t:0 has position 8 committed where this instance expected position 5/,
    })
    // Its other partition is still its own.
    await commit(a.sink, 3, [['t:1', 2, 4]], { 't:1': 2 })
    // Once more with the log read to its end before the commit (a reads a newly assigned t:3): fenced by the
    // check before the first attempt.
    await commit(b.sink, 2, [['t:0', 8, 9]], { 't:0': 8 })
    assert.deepEqual(await a.positions.read(['t:3']), {})
    await assert.rejects(commit(a.sink, 4, [['t:0', 8, 9]], { 't:0': 5 }), { code: 'SLUICE_SINK_FENCED' })
    await a.sink.close()
    await b.sink.close()

    const expected = [...input('t:0', 0, 9).rows, ...input('t:1', 0, 4).rows, ...input('t:2', 0, 2).rows]
    assert.deepEqual(inputs(await readTable(table)), inputs(expected))
    // The fenced batches left nothing behind: every data file is an entry's.
    const listed = (await logEntries(table)).flatMap((e) => e.files.map((f) => f.path)).sort()
    assert.deepEqual(await visibleDataFiles(table), listed)
    assert.deepEqual(
      (await listAll(table)).filter((f) => f.startsWith('.sluice-staging/')),
      [],
    )
  })

  test('an instance restarted without its checkpoint counts batch ids past its own in the table, and overwrites nothing', async () => {
    const table = join(await tempDir(), 't')
    const first = await instance({ path: table }, 'a')
    await first.positions.read(['t:0'])
    await commit(first.sink, 0, [['t:0', 0, 4]], {})
    await commit(first.sink, 1, [['t:0', 4, 6]], { 't:0': 4 })
    await first.sink.close()
    // The same instance name, batch ids from 0 again (its checkpoint folder was lost).
    const again = await instance({ path: table }, 'a')
    assert.deepEqual(await again.positions.read(['t:0']), { 't:0': 6 })
    await commit(again.sink, 0, [['t:0', 6, 9]], { 't:0': 6 })
    await again.sink.close()
    assert.deepEqual(
      (await logEntries(table)).map((e) => e.batchId),
      [0, 1, 2],
    )
    assert.deepEqual(inputs(await readTable(table)), inputs(input('t:0', 0, 9).rows))
  })

  test('the first scaled-out start takes over a table written as one process: its positions, and the files a crash left staged', async () => {
    const table = join(await tempDir(), 't')
    const single = lake<Row>({ path: table, format: 'jsonl' }).create()
    await single.open({ pipelineId: 'p', source })
    const one = input('t:0', 0, 5)
    const two = input('t:1', 0, 3)
    const batch: OutputBatch<Row> = { batchId: 0, rows: [...one.rows, ...two.rows], deadLetters: [] }
    await single.write(batch)
    await single.commit(batch, { next: { 't:0': 5, 't:1': 3 }, records: [...one.records, ...two.records] })
    await single.close()
    // The state a crash between the commit point and the renames leaves: the committed file still staged.
    const [entry] = await logEntries(table)
    assert.ok(entry && entry.files.length === 1)
    const file = entry.files[0]!
    const staged = join(table, stagedKey(entry, file.path))
    await mkdir(dirname(staged), { recursive: true })
    await rename(join(table, file.path), staged)

    const [a, b] = await Promise.all([
      instance({ path: table, format: 'jsonl' }, 'a'),
      instance({ path: table, format: 'jsonl' }, 'b'),
    ])
    assert.deepEqual(await visibleDataFiles(table), [file.path], 'the staged file renamed into place')
    assert.deepEqual(await a.positions.read(['t:0']), { 't:0': 5 })
    assert.deepEqual(await b.positions.read(['t:1', 't:2']), { 't:1': 3 })
    await commit(a.sink, 0, [['t:0', 5, 7]], { 't:0': 5 })
    await commit(b.sink, 0, [['t:1', 3, 4]], { 't:1': 3 })
    await a.sink.close()
    await b.sink.close()
    assert.deepEqual(
      inputs(await readTable(table)),
      inputs([...input('t:0', 0, 7).rows, ...input('t:1', 0, 4).rows]),
    )
  })

  test('another pipeline writing the same table from the same topic keeps its own positions', async () => {
    const table = join(await tempDir(), 't')
    const a = await instance({ path: table, format: 'jsonl' }, 'a', 'p')
    const other = await instance({ path: table, format: 'jsonl' }, 'a', 'q')
    assert.deepEqual(await a.positions.read(['t:0']), {})
    await commit(a.sink, 0, [['t:0', 0, 3]], {})
    // Pipeline q has written nothing of t:0: it reads it from the start, and its commit does not fence p's.
    assert.deepEqual(await other.positions.read(['t:0']), {})
    await commit(other.sink, 0, [['t:0', 0, 2]], {})
    await commit(a.sink, 1, [['t:0', 3, 5]], { 't:0': 3 })
    await a.sink.close()
    await other.sink.close()
    assert.deepEqual(
      (await logEntries(table)).map((e) => [e.writer, e.end]),
      [
        ['p@a', { 't:0': 3 }],
        ['q@a', { 't:0': 2 }],
        ['p@a', { 't:0': 5 }],
      ],
    )
  })

  test('two processes under one instance name: the second to commit stops and says so', async () => {
    const table = join(await tempDir(), 't')
    const first = await instance({ path: table, format: 'jsonl' }, 'a')
    const second = await instance({ path: table, format: 'jsonl' }, 'a')
    await first.positions.read(['t:0'])
    await second.positions.read(['t:1'])
    await commit(first.sink, 0, [['t:0', 0, 1]], {})
    await assert.rejects(commit(second.sink, 0, [['t:1', 0, 1]], {}), {
      code: 'SLUICE_LAKE_WRITER_TWICE',
      message: /two instances of the pipeline run under one instance name/,
    })
    await first.sink.close()
    await second.sink.close()
  })
})
