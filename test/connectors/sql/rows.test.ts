import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { asciiLower, jsonProblem, notARow, rowText, showName } from '../../../src/connectors/sql/index.ts'
import { circular, nested } from './hostile-rows.ts'

describe('rows a table sink cannot take: the shared pieces (no database)', () => {
  test('a row is an object with one field per column', () => {
    assert.equal(notARow({ a: 1 }), undefined)
    assert.equal(notARow({}), undefined)
    assert.equal(notARow(null), 'the row is null, not an object with one field per column')
    assert.equal(notARow(undefined), 'the row is undefined, not an object with one field per column')
    assert.equal(notARow(42), 'the row is a number (42), not an object with one field per column')
    assert.equal(
      notARow('x'.repeat(50)),
      `the row is a string ("${'x'.repeat(39)}…), not an object with one field per column`,
    )
    assert.equal(notARow([1]), 'the row is an array, not an object with one field per column')
    assert.equal(notARow(new Date(0)), 'the row is a Date, not an object with one field per column')
    assert.equal(notARow(Buffer.from('x')), 'the row is bytes, not an object with one field per column')
  })

  test('a dead letter shows the row as JSON, and never throws doing so', () => {
    assert.equal(rowText({ a: 1, b: 2n, c: Buffer.from('hi') }), '{"a":1,"b":"2","c":"aGk="}')
    assert.equal(rowText(null), 'null')
    assert.equal(rowText(undefined), 'undefined')
    // Too deep for JSON.stringify, and circular: rendered by hand, cut at 32 levels.
    const deep = rowText({ id: 1, meta: nested(100_000) })
    assert.match(deep, /^\{"id":1,"meta":\{"d":\{"d":/)
    assert.ok(deep.endsWith(`"…"${'}'.repeat(32)}`), deep.slice(-60))
    assert.match(rowText(circular(7)), /^\{"id":7,"name":"loop","meta":\{"up":\{"up":/)
    // A row of 100,000 fields leaves a bounded dead letter.
    const wide: Record<string, number> = {}
    for (let i = 0; i < 100_000; i++) wide[`field_${i}`] = i
    assert.equal(rowText(wide, 1000).length, 1001)
  })

  test('names in reasons, case as DuckDB folds it, JSON failures said plainly', () => {
    assert.equal(showName('a\u0000b'), '"a\\u0000b"')
    assert.equal(showName('n'.repeat(100)), `"${'n'.repeat(80)}…"`)
    assert.equal(asciiLower('NaMe_É'), 'name_É')
    assert.equal(
      jsonProblem(new RangeError('Maximum call stack size exceeded')),
      'the value is nested too deeply to write as JSON (Maximum call stack size exceeded)',
    )
    assert.equal(
      jsonProblem(new TypeError('Converting circular structure to JSON')),
      'the value is circular, it cannot be written as JSON',
    )
  })
})
