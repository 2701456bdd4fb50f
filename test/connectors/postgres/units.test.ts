import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  encodeValue,
  escapeCopyText,
  kindOf,
  type ValueKind,
  widestType,
} from '../../../src/connectors/postgres/columns.ts'
import { copyLine, isDataError, isTransient } from '../../../src/connectors/postgres/errors.ts'
import {
  parseTableName,
  qualified,
  quoteIdent,
  sibling,
} from '../../../src/connectors/postgres/identifiers.ts'

describe('postgres sink: identifiers, types, COPY encoding (no database)', () => {
  test('identifiers are always quoted, embedded quotes doubled', () => {
    assert.equal(quoteIdent('page_metrics'), '"page_metrics"')
    assert.equal(quoteIdent('a "b"; DROP'), '"a ""b""; DROP"')
    assert.deepEqual(parseTableName('analytics.page_metrics'), { schema: 'analytics', name: 'page_metrics' })
    assert.deepEqual(parseTableName('Page Metrics'), { schema: undefined, name: 'Page Metrics' })
    assert.deepEqual(parseTableName('"my.schema"."t ""x"""'), { schema: 'my.schema', name: 't "x"' })
    assert.deepEqual(parseTableName('a.b.c'), { schema: 'a', name: 'b.c' })
    assert.equal(qualified(parseTableName('s.t"')), '"s"."t"""')
    assert.deepEqual(sibling(parseTableName('s.t'), 'sluice_offsets'), {
      schema: 's',
      name: 'sluice_offsets',
    })
    assert.deepEqual(sibling(parseTableName('s.t'), 'o.x'), { schema: 'o', name: 'x' })
    assert.throws(() => parseTableName('"unbalanced'), /unbalanced quotes/)
    assert.throws(() => parseTableName('.t'), /not a valid table name/)
  })

  test('without a declared type, a column gets the widest type for the kind of its values', () => {
    const infer = (...values: unknown[]) =>
      widestType(new Set(values.map(kindOf).filter((k): k is ValueKind => k !== undefined)))
    // Whole numbers are still JSON numbers: a sum whole in the first batch must take 19.99 later.
    assert.equal(infer(1, 2, null), 'double precision')
    assert.equal(infer(1, 2.5), 'double precision')
    // A string that looks like a timestamp now may not later: text, unless a schema says date-time.
    assert.equal(infer('2026-11-25T10:00:00.000Z', '2026-11-25T10:00:00+01:00'), 'text')
    assert.equal(infer('2026-11-25T10:00:00.000Z', 'soon'), 'text')
    assert.equal(infer(true), 'boolean')
    assert.equal(infer({ a: 1 }), 'jsonb')
    assert.equal(infer([1]), 'jsonb')
    assert.equal(infer(1, 'a'), 'jsonb')
    assert.equal(infer(null, undefined), undefined)
    assert.equal(infer(10n), 'numeric')
    assert.equal(infer(10n, 1.5), 'numeric')
    assert.equal(infer(new Date()), 'timestamptz')
    assert.equal(infer(Buffer.from('x')), 'bytea')
  })

  test('values are escaped for COPY text format', () => {
    assert.equal(escapeCopyText('a\tb\nc\rd\\e'), 'a\\tb\\nc\\rd\\\\e')
    assert.equal(encodeValue(null, false), '\\N')
    assert.equal(encodeValue(undefined, false), '\\N')
    assert.equal(encodeValue('\\N', false), '\\\\N')
    assert.equal(encodeValue(true, false), 't')
    assert.equal(encodeValue(1.5, false), '1.5')
    assert.equal(encodeValue(Number.NaN, false), 'NaN')
    assert.equal(encodeValue(Number.NEGATIVE_INFINITY, false), '-Infinity')
    assert.equal(encodeValue(2n ** 70n, false), '1180591620717411303424')
    assert.equal(encodeValue(new Date(0), false), '1970-01-01T00:00:00.000Z')
    assert.equal(encodeValue(Buffer.from([1, 255]), false), '\\\\x01ff')
    assert.equal(encodeValue({ s: 'a\nb' }, false), '{"s":"a\\\\nb"}')
    assert.equal(encodeValue('plain', true), '"plain"')
    assert.equal(encodeValue(Buffer.from('hi'), true), '"aGk="')
  })

  test('errors: data errors, transient failures and COPY line numbers', () => {
    assert.ok(isDataError({ code: '23502' }))
    assert.ok(isDataError({ code: '22001' }))
    assert.ok(isDataError({ code: '54000' }), 'row is too big')
    assert.ok(!isDataError({ code: '42P01' }))
    assert.ok(isTransient({ code: 'ECONNREFUSED' }))
    assert.ok(isTransient({ code: '57P01', message: 'terminating connection due to administrator command' }))
    assert.ok(isTransient({ code: '08006' }))
    assert.ok(isTransient(new Error('Connection terminated unexpectedly')))
    assert.ok(!isTransient({ code: '23505' }))
    assert.equal(copyLine({ where: 'COPY items, line 17, column qty: "abc"' }), 17)
    assert.equal(copyLine({ where: 'COPY "we ird", line 3: "1\tx"' }), 3)
    assert.equal(copyLine({ where: 'SQL statement' }), undefined)
  })
})
