import assert from 'node:assert/strict'
import { mkdir, readdir } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'
import { describe, test } from 'node:test'
import {
  DEFAULT_PARTITION,
  escapeName,
  escapePathPart,
  lake,
  partitionPath,
} from '../../../src/connectors/lake/index.ts'
import { memorySource } from '../../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { listAll, logEntries, type Row, readTable, sortRows, tempDir, visibleDataFiles } from './helpers.ts'

const NASTY: (string | null | undefined)[] = [
  '../../x',
  '..',
  '.',
  'a/b',
  'a\\b',
  '/abs',
  '%',
  '%2F',
  '=',
  'k=v/w',
  '日本/ü',
  '😀',
  '',
  ' ',
  'line\nbreak',
  'nul\0byte',
  '.hidden',
  '__proto__',
  'x'.repeat(400),
  '%'.repeat(150),
  null,
  undefined,
]

describe('lake partition values', () => {
  test('escaping: Hive percent-encoding, "." and ".." whole, nothing that is a path step', () => {
    assert.equal(escapePathPart('../../x'), '..%2F..%2Fx')
    assert.equal(escapePathPart('a/b'), 'a%2Fb')
    assert.equal(escapePathPart('%'), '%25')
    assert.equal(escapePathPart('..'), '%2E%2E')
    assert.equal(escapePathPart('.'), '%2E')
    assert.equal(escapePathPart('ü'), '%C3%BC')
    assert.equal(escapePathPart('2026-11-25'), '2026-11-25')
    assert.equal(escapeName('.key'), '%2Ekey')
    assert.equal(
      partitionPath({ event_date: '2026-11-25', event_type: 'purchase' }),
      'event_date=2026-11-25/event_type=purchase',
    )
    assert.equal(partitionPath({ k: null }), `k=${DEFAULT_PARTITION}`)
    assert.equal(partitionPath({ k: '' }), 'k=')
    for (const value of NASTY) {
      if (typeof value !== 'string') continue
      const path = partitionPath({ '../key/': value })
      assert.ok(!path.includes('/'), path)
      assert.ok(path.length <= 200, `${path.length}`)
      assert.equal(decodeURIComponent(escapePathPart(value)), value)
    }
  })

  test('no partition value or key can write outside the table folder, and every row comes back', async () => {
    const dir = await tempDir()
    const table = join(dir, 'deep', 'table')
    await mkdir(table, { recursive: true })
    const input: Row[] = NASTY.flatMap((value, i) =>
      [0, 1].map((j) => ({ id: i * 2 + j, ...(value === undefined ? {} : { value }) })),
    )
    await run(
      pipeline('nasty')
        .from(memorySource<Row>('nasty', input))
        .to(
          lake<Row>({
            path: table,
            partitionBy: (row) => ({ value: row.value as string | null, '../../k': row.value as string }),
          }),
        ),
      { checkpoint: join(dir, 'ckpt'), trigger: { kind: 'availableNow' } },
    )
    // Nothing appeared beside the table folder.
    assert.deepEqual(await readdir(dir), ['ckpt', 'deep'])
    assert.deepEqual(await readdir(join(dir, 'deep')), ['table'])
    const root = resolve(table)
    const files = await listAll(table)
    for (const file of files) assert.ok(resolve(table, file).startsWith(root + sep), file)
    const data = await visibleDataFiles(table)
    // One folder pair per distinct value ('.' and '%2E' etc. stay distinct; null and undefined share the default).
    const folders = new Set(data.map((f) => f.slice(0, f.lastIndexOf('/'))))
    assert.equal(folders.size, NASTY.length - 1)
    for (const folder of folders) {
      const [first, second] = folder.split('/')
      assert.ok(first?.startsWith('value='), folder)
      assert.ok(second?.startsWith('%2E.%2F..%2Fk='), folder)
    }
    assert.ok(folders.has(`value=..%2F..%2Fx/%2E.%2F..%2Fk=..%2F..%2Fx`))
    assert.ok(folders.has(`value=${DEFAULT_PARTITION}/%2E.%2F..%2Fk=${DEFAULT_PARTITION}`))
    assert.ok(folders.has('value=%2E%2E/%2E.%2F..%2Fk=%2E%2E'))
    assert.ok(folders.has('value=/%2E.%2F..%2Fk='))
    // The log records the values themselves.
    const values = new Set((await logEntries(table)).flatMap((e) => e.files.map((f) => f.partition.value)))
    assert.ok(values.has('../../x') && values.has(null) && values.has('日本/ü') && values.has(''))
    assert.deepEqual(sortRows(await readTable(table)), sortRows(input))
  })
})
