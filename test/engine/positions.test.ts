import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sinkAt } from '../../src/runtime/positions.ts'

test('a sink is at a batch end only when every partition matches and it has no other', () => {
  assert.equal(sinkAt({ 'a:0': 10, 'a:1': 5 }, { 'a:0': 10, 'a:1': 5 }, false), true)
  assert.equal(sinkAt({ 'a:0': 10, 'a:1': 4 }, { 'a:0': 10, 'a:1': 5 }, false), false)
  assert.equal(sinkAt({ 'a:0': 10 }, { 'a:0': 10, 'a:1': 5 }, false), false, 'a:1 never committed')
  assert.equal(
    sinkAt({ 'a:0': 10, 'a:1': 5, 'a:2': 1 }, { 'a:0': 10, 'a:1': 5 }, false),
    false,
    'another run read a:2',
  )
})

test('at a batch start, a partition the sink never committed counts as not written yet', () => {
  assert.equal(sinkAt({ 'a:0': 10 }, { 'a:0': 10, 'a:1': 0 }, true), true)
  assert.equal(sinkAt({ 'a:0': 12 }, { 'a:0': 10, 'a:1': 0 }, true), false, 'someone wrote past the start')
  assert.equal(sinkAt({}, { 'a:0': 0 }, true), true)
})
