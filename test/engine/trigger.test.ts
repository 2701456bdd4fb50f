import assert from 'node:assert/strict'
import { test } from 'node:test'
import { UsageError } from '../../src/errors.ts'
import { defaultLingerMs, parseTrigger, triggers } from '../../src/runtime/trigger.ts'

test('parseTrigger reads the CLI and YAML forms and refuses anything else with a usage error', () => {
  assert.deepEqual(parseTrigger('continuous'), { kind: 'continuous' })
  assert.deepEqual(parseTrigger('availableNow'), { kind: 'availableNow' })
  assert.deepEqual(parseTrigger('500ms'), { kind: 'processingTime', intervalMs: 500 })
  assert.deepEqual(parseTrigger('processingTime:2s'), { kind: 'processingTime', intervalMs: 2000 })
  assert.throws(() => parseTrigger('sometimes'), UsageError)
})

test('the default linger is shortest for the continuous trigger and longest for bounded runs', () => {
  assert.equal(defaultLingerMs(triggers.continuous()), 2)
  assert.equal(defaultLingerMs(triggers.processingTime('1s')), 20)
  assert.equal(defaultLingerMs(triggers.availableNow()), 200)
  assert.equal(defaultLingerMs(triggers.once()), 200)
})
