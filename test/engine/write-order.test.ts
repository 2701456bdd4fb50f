import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { OutputBatch, SinkContract, SinkWriter } from '../../src/runtime/sink.ts'
import { AT_LEAST_ONCE, startWrite } from '../../src/runtime/sink.ts'

const EXACTLY_ONCE: SinkContract = { ...AT_LEAST_ONCE, guarantee: 'exactly-once' }

function recordingSink(contract: SinkContract, events: string[]): SinkWriter<unknown> {
  return {
    description: 'recording',
    async open() {
      return contract
    },
    async write(batch) {
      events.push(`write ${batch.batchId}`)
    },
    async commit() {},
    async close() {},
  }
}

const batch: OutputBatch<unknown> = { batchId: 7, rows: [1], deadLetters: [] }

function controlled() {
  let resolve!: () => void
  let reject!: (e: Error) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

// The runtime overlaps the sink's write with the checkpoint's fsyncs. Before this rule it did so for every
// sink, so foreachBatch could see batch N before N's offsets entry was durable.
test('an at-least-once sink is written only after the batch is durable in the checkpoint', async () => {
  const events: string[] = []
  const durable = controlled()
  const writing = startWrite(recordingSink(AT_LEAST_ONCE, events), AT_LEAST_ONCE, batch, durable.promise)
  await new Promise((r) => setTimeout(r, 20))
  events.push('durable')
  durable.resolve()
  await writing
  assert.deepEqual(events, ['durable', 'write 7'])
})

test('an at-least-once sink is not written at all when the checkpoint write fails', async () => {
  const events: string[] = []
  const durable = controlled()
  const writing = startWrite(recordingSink(AT_LEAST_ONCE, events), AT_LEAST_ONCE, batch, durable.promise)
  durable.reject(new Error('disk full'))
  await assert.rejects(writing, /disk full/)
  assert.deepEqual(events, [])
})

test("an exactly-once sink's (invisible) write overlaps the fsyncs", async () => {
  const events: string[] = []
  const durable = controlled()
  const writing = startWrite(recordingSink(EXACTLY_ONCE, events), EXACTLY_ONCE, batch, durable.promise)
  await writing
  events.push('durable')
  durable.resolve()
  assert.deepEqual(events, ['write 7', 'durable'])
})
