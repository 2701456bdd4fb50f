import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { pipeline } from '../../src/dsl/stream.ts'
import { run } from '../../src/runtime/run.ts'
import { AT_LEAST_ONCE, type SinkContract, type SinkSpec } from '../../src/runtime/sink.ts'
import type { Positions, SourceRecord, SourceSpec } from '../../src/runtime/source.ts'

/**
 * The runtime, not the sink, drives the commit protocol from the contract a sink declares: it acknowledges
 * the source after each commit unless the sink committed the source's offsets itself, and it logs dead
 * letters only for a sink that does not store them.
 */

const dirs: string[] = []
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** Three batches of two records; records which positions the runtime acknowledged. */
function recordingSource(acknowledged: Positions[]): SourceSpec<string> {
  const records: SourceRecord[] = ['a', 'b', 'c', 'd', 'e', 'f'].map((value, offset) => ({
    partition: 'p',
    offset,
    key: null,
    value,
    timestamp: 0,
  }))
  return {
    type: 'recording',
    options: {},
    create: () => {
      let next = 0
      return {
        description: 'recording',
        bounded: true,
        async open(resumeFrom) {
          next = resumeFrom?.p ?? 0
        },
        async poll({ maxRecords }) {
          const out = records.slice(next, next + Math.min(2, maxRecords))
          next += out.length
          return out
        },
        async endPositions() {
          return { p: records.length }
        },
        async acknowledge(positions) {
          acknowledged.push(positions)
        },
        async close() {},
      }
    },
  }
}

function sinkDeclaring(contract: SinkContract, events: string[]): SinkSpec<string> {
  return {
    type: 'declaring',
    options: {},
    create: () => ({
      description: 'declaring',
      async open() {
        return contract
      },
      async write(batch) {
        events.push(`write ${batch.batchId}`)
      },
      async commit(batch) {
        events.push(`commit ${batch.batchId}`)
      },
      async hasCommitted() {
        return false
      },
      async close() {},
    }),
  }
}

async function runWith(contract: SinkContract): Promise<{ acknowledged: Positions[]; events: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-contract-'))
  dirs.push(dir)
  const acknowledged: Positions[] = []
  const events: string[] = []
  const p = pipeline('contract').from(recordingSource(acknowledged)).to(sinkDeclaring(contract, events))
  await run(p, { checkpoint: dir, trigger: { kind: 'availableNow' }, maxBatchRecords: 2, lingerMs: 0 })
  return { acknowledged, events }
}

test('the runtime acknowledges the source after each commit of a sink that does not commit its offsets', async () => {
  for (const contract of [
    AT_LEAST_ONCE,
    {
      guarantee: 'exactly-once',
      storesPositions: true,
      commitsSourceOffsets: false,
      storesDeadLetters: true,
    },
  ] satisfies SinkContract[]) {
    const { acknowledged, events } = await runWith(contract)
    assert.deepEqual(events, ['write 0', 'commit 0', 'write 1', 'commit 1', 'write 2', 'commit 2'])
    assert.deepEqual(acknowledged, [{ p: 2 }, { p: 4 }, { p: 6 }], contract.guarantee)
  }
})

test('a sink whose commit carries the source offsets (a Kafka transaction) is not acknowledged again', async () => {
  const { acknowledged, events } = await runWith({
    guarantee: 'exactly-once',
    storesPositions: true,
    commitsSourceOffsets: true,
    storesDeadLetters: true,
  })
  assert.equal(events.filter((e) => e.startsWith('commit')).length, 3)
  assert.deepEqual(acknowledged, [])
})

test('a sink that declares stored positions must be able to say what it committed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-contract-'))
  dirs.push(dir)
  const incomplete: SinkSpec<string> = {
    type: 'incomplete',
    options: {},
    create: () => ({
      description: 'incomplete',
      async open() {
        return { ...AT_LEAST_ONCE, guarantee: 'exactly-once', storesPositions: true } satisfies SinkContract
      },
      async write() {},
      async commit() {},
      async close() {},
    }),
  }
  await assert.rejects(
    run(pipeline('incomplete').from(recordingSource([])).to(incomplete), { checkpoint: dir }),
    /declares that it stores positions but cannot say which it committed/,
  )
})
