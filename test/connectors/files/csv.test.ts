import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { parse as parseCsv } from 'csv-parse/sync'
import { z } from 'zod'
import { type FileRecord, files } from '../../../src/connectors/files/index.ts'
import { memory } from '../../../src/connectors/testing/memory.ts'
import { pipeline } from '../../../src/dsl/stream.ts'
import { run } from '../../../src/runtime/run.ts'
import { context, drain, failingOnce, fileOf, tempDir } from './helpers.ts'

const Product = z.object({
  id: z.coerce.number().int(),
  name: z.string(),
  price: z.coerce.number(),
  qty: z.coerce.number().int(),
})
type Product = z.output<typeof Product>

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value
}

describe('files() csv through the runtime', () => {
  test('rows become objects keyed by the header; quoted fields, line breaks in quotes, CRLF', async () => {
    const dir = await tempDir()
    const rows: Product[] = [
      { id: 1, name: 'Widget', price: 9.99, qty: 3 },
      { id: 2, name: 'Gadget, large', price: 19.5, qty: 1 },
      { id: 3, name: 'Quote "this"', price: 1, qty: 10 },
      { id: 4, name: 'Two\nlines', price: 2.25, qty: 4 },
      { id: 5, name: '', price: 0, qty: 0 },
    ]
    const lines = [
      'id,name,price,qty',
      ...rows.map((r) => [r.id, csvField(r.name), r.price, r.qty].join(',')),
    ]
    await writeFile(join(dir, 'a.csv'), fileOf(lines.slice(0, 4), '\r\n').content)
    await writeFile(join(dir, 'b.csv'), fileOf([lines[0]!, '', ...lines.slice(4)]).content)
    const sink = memory<Product>()
    await run(
      pipeline('files-csv')
        .from(files({ path: dir, format: 'csv' }))
        .parse(Product)
        .to(sink),
      {
        trigger: { kind: 'availableNow' },
        checkpoint: await tempDir('sluice-ckpt-'),
      },
    )
    assert.deepEqual(sink.rows, rows)
    assert.deepEqual(sink.deadLetters, [])
  })

  test('malformed rows reach the dead-letter output with the raw line, its byte offset and a reason', async () => {
    const dir = await tempDir()
    const invalidUtf8 = Buffer.concat([Buffer.from('7,Caf'), Buffer.from([0xe9]), Buffer.from(',3.5,1')])
    const file = fileOf([
      'id,name,price,qty',
      '1,Widget,9.99,3',
      '2,Too few,1.5',
      '3,Too,many,1,2',
      '4,Bad "quote",1,1',
      '5,"Unclosed,1,1',
      invalidUtf8,
      '8,Fine,2,2',
      '9,Not a number,abc,1',
    ])
    await writeFile(join(dir, 'p.csv'), file.content)

    // The source marks what it could not decode (the engine dead-letters these; see FileRecord.invalid).
    const reader = files({ path: dir, format: 'csv' }).create(context)
    await reader.open(undefined)
    const records = (await drain(reader)) as FileRecord[]
    assert.deepEqual(
      records.map((r) => [r.offset, r.invalid]),
      [
        [file.offsets[1], undefined],
        [file.offsets[2], 'csv: 3 fields, the header has 4'],
        [file.offsets[3], 'csv: 5 fields, the header has 4'],
        [file.offsets[4], 'csv: Invalid Opening Quote: a quote is found on field 1, value is "Bad "'],
        [file.offsets[5], 'csv: Quote Not Closed: the parsing is finished with an opening quote'],
        [file.offsets[6], 'csv: invalid UTF-8'],
        [file.offsets[7], undefined],
        [file.offsets[8], undefined],
      ],
    )

    const sink = memory<Product>()
    await run(
      pipeline('files-csv-bad')
        .from(files({ path: dir, format: 'csv' }))
        .parse(Product)
        .to(sink),
      {
        trigger: { kind: 'availableNow' },
        checkpoint: await tempDir('sluice-ckpt-'),
      },
    )
    assert.deepEqual(sink.rows, [
      { id: 1, name: 'Widget', price: 9.99, qty: 3 },
      { id: 8, name: 'Fine', price: 2, qty: 2 },
    ])
    const dead = sink.deadLetters
    assert.deepEqual(
      dead.map((d) => [d.partition, d.offset]),
      [2, 3, 4, 5, 6, 8].map((i) => ['p.csv', file.offsets[i]]),
    )
    // The raw line as it was in the file (bytes when it is not UTF-8).
    assert.deepEqual(
      dead.map((d) => d.raw),
      [
        '2,Too few,1.5',
        '3,Too,many,1,2',
        '4,Bad "quote",1,1',
        '5,"Unclosed,1,1',
        invalidUtf8,
        JSON.stringify({ id: '9', name: 'Not a number', price: 'abc', qty: '1' }),
      ],
    )
    assert.match(dead[5]!.reason, /^schema violation: price/)
    // The runtime dead-letters records the source marked invalid with the source's own reason.
    for (const [i, d] of dead.slice(0, 5).entries()) {
      assert.equal(d.operator, 'source')
      assert.equal(d.reason, records[i + 1]!.invalid)
    }
  })

  test('without a header, rows are string arrays and must have as many fields as the first row', async () => {
    const dir = await tempDir()
    const path = join(dir, 'plain.tsv')
    await writeFile(path, 'a\tb\n"c\td"\te\nf\n')
    const reader = files({ path, format: 'csv', csv: { header: false, delimiter: '\t' } }).create(context)
    await reader.open(undefined)
    const records = (await drain(reader)) as FileRecord[]
    assert.deepEqual(
      records.map((r) => [r.partition, r.value, r.invalid]),
      [
        ['plain.tsv', ['a', 'b'], undefined],
        ['plain.tsv', ['c\td', 'e'], undefined],
        ['plain.tsv', 'f', 'csv: 1 field, the first row has 2'],
      ],
    )
  })

  test('a large CRLF file streams in windows and equals a whole-file parse; resuming at any record continues exactly', async () => {
    const dir = await tempDir()
    const path = join(dir, 'big.csv')
    const random = mulberry32(42)
    const words = ['alpha', 'beta, gamma', 'say "hi"', 'multi\nline\nvalue', 'x'.repeat(300), '', 'ümlaut']
    const parts = ['id,label,note\r\n']
    for (let i = 0; i < 20_000; i++) {
      const label = words[Math.floor(random() * words.length)]!
      const note = words[Math.floor(random() * words.length)]!
      parts.push(`${i},${csvField(label)},${csvField(note)}\r\n`)
      if (random() < 0.01) parts.push('\r\n')
      // One quoted field longer than a read window, with line breaks: the window grows to frame it.
      if (i === 10_000) parts.push(`${csvField(`${'long\n'.repeat(70_000)}"end"`)},,\r\n`)
    }
    const content = parts.join('')
    assert.ok(Buffer.byteLength(content) > 1_500_000, 'larger than several read windows')
    await writeFile(path, content)
    const expected = parseCsv(content, { columns: true, skip_empty_lines: true }) as Record<string, string>[]

    const reader = files({ path, format: 'csv' }).create(context)
    await reader.open(undefined)
    const records = (await drain(reader, { maxRecords: 777 })) as FileRecord[]
    assert.equal(records.length, 20_001)
    assert.deepEqual(
      records.map((r) => r.value),
      expected,
    )
    const offsets = records.map((r) => r.offset)
    assert.ok(offsets.every((o, i) => i === 0 || o > offsets[i - 1]!))
    assert.ok(records.every((r) => r.invalid === undefined))
    // All in one poll: windows end in the middle of records (and of quoted fields).
    const once = files({ path, format: 'csv' }).create(context)
    await once.open(undefined)
    assert.deepEqual(await drain(once, { maxRecords: 1_000_000 }), records)

    for (const at of [0, 1, 4999, 10_000, 10_001, 12_345, 19_998, 19_999]) {
      const resumed = files({ path, format: 'csv' }).create(context)
      await resumed.open({ 'big.csv': records[at]!.offset + 1 })
      const next = await resumed.poll({ maxRecords: 3, maxBytes: 1 << 20, lingerMs: 0, idleMs: 0 })
      assert.deepEqual(next, records.slice(at + 1, at + 4), `resume after record ${at}`)
    }
  })

  test('restarts with small batches and a crash before a commit: every row exactly once', async () => {
    const dir = await tempDir()
    const all: Product[] = Array.from({ length: 150 }, (_, i) => ({
      id: i,
      name: i % 10 === 0 ? `line\nbreak ${i}` : `p${i}`,
      price: i / 4,
      qty: i % 5,
    }))
    const csvOf = (rows: Product[]) =>
      ['id,name,price,qty', ...rows.map((r) => `${r.id},${csvField(r.name)},${r.price},${r.qty}`)].join('\n')
    await writeFile(join(dir, 'a.csv'), csvOf(all.slice(0, 100)))
    await writeFile(join(dir, 'b.csv'), csvOf(all.slice(100)))
    const checkpoint = await tempDir('sluice-ckpt-')
    const sink = failingOnce<Product>(3)
    let failures = 0
    for (let runs = 0; runs < 100; runs++) {
      try {
        const summary = await run(
          pipeline('files-csv-restart')
            .from(files({ path: dir, format: 'csv' }))
            .parse(Product)
            .to(sink.sink),
          { trigger: { kind: 'availableNow' }, checkpoint, maxBatches: 1, maxBatchRecords: 17 },
        )
        if (summary.batches === 0) break
      } catch (error) {
        assert.match((error as Error).message, /injected failure/)
        failures++
      }
    }
    assert.equal(failures, 1)
    assert.deepEqual(sink.memory.rows, all)
  })
})
