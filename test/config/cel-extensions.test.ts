import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compileExpression, ExpressionCompileError } from '../../src/config/index.ts'

/** The functions pipeline files have beyond standard CEL (src/config/cel-extensions.ts), in every scope. */

const value = (source: string, event: unknown = {}) => compileExpression(source).evaluate(event)

test('list.sum() adds numbers in order, ints and doubles alike, into a double', () => {
  assert.equal(value('event.prices.sum()', { prices: [10.5, 2, 0.25] }), 12.75)
  assert.equal(value('[1, 2, 3].sum()'), 6)
  assert.equal(value('[1, 2.5].sum()'), 3.5)
  assert.equal(value('[].sum()'), 0)
  assert.equal(value('event.lines.map(l, l.value).sum() / 2.0', { lines: [{ value: 3 }, { value: 5 }] }), 4)
  // Its type is double, so the checker catches mixing it with an int at load time.
  assert.equal(compileExpression('[1, 2].sum()').type, 'double')
  assert.throws(() => compileExpression('[1, 2].sum() + 1'), ExpressionCompileError)
  assert.throws(() => value('event.xs.sum()', { xs: [1, 'two'] }), {
    message: 'sum() adds numbers, got the string "two" in "event.xs.sum()"',
  })
})

test('list.distinct() keeps the first of equal values, in order', () => {
  assert.deepEqual(value("['b', 'a', 'b', 'c', 'a'].distinct()"), ['b', 'a', 'c'])
  assert.deepEqual(value('event.xs.distinct()', { xs: [1, 1.5, 1, true, null, null] }), [1, 1.5, true, null])
  // CEL equality: the int 2 and the double 2.0 are equal.
  assert.deepEqual(value('[2, 2.0, 3].distinct()'), [2, 3])
  assert.deepEqual(value('[].distinct()'), [])
  assert.throws(() => value('event.xs.distinct()', { xs: [{ a: 1 }] }), {
    message: 'distinct() compares strings, numbers, bools and nulls, got a map in "event.xs.distinct()"',
  })
})

test('math.round() rounds halves away from zero, doubles only', () => {
  assert.equal(value('math.round(2.5)'), 3)
  assert.equal(value('math.round(-2.5)'), -3)
  assert.equal(value('math.round(event.x * 100.0) / 100.0', { x: 12.345678 }), 12.35)
  assert.equal(value('math.round(event.x)', { x: 2.49 }), 2)
  assert.throws(() => compileExpression('math.round(2)'), ExpressionCompileError)
  assert.throws(() => compileExpression('math.floor(2.0)'), ExpressionCompileError)
})

test('the extensions exist in the process scopes too', () => {
  const emit = compileExpression("[{'total': state.map(l, l.v).sum(), 'n': math.round(next)}]", 'emit')
  assert.deepEqual(emit.evaluateWith({ state: [{ v: 1 }, { v: 2 }], next: 2.6, event: {}, key: 'k' }), [
    { total: 3, n: 3 },
  ])
})
