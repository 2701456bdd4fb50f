import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { z } from 'zod'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import type { BatchProgress } from '../../src/runtime/progress.ts'
import { run } from '../../src/runtime/run.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'

describe('processing-time trigger', () => {
  test('a batch covers everything in the log when its trigger fires, not only what the client had buffered', async () => {
    const topic = await freshTopic('pt-batches', 2)
    const n = 6000
    // 1 KB records: one fetch (512 KiB per partition) then brings a few hundred, not the whole backlog.
    const pad = randomBytes(500).toString('hex') // incompressible: lz4 must not shrink a fetch's worth
    const producer = new KafkaProducer({ brokers: brokers() })
    try {
      const rows = Array.from({ length: n }, (_, i) => ({
        topic,
        key: `k${i % 7}`,
        value: JSON.stringify({ i, pad }),
      }))
      for (let i = 0; i < n; i += 2000) await producer.send(rows.slice(i, i + 2000))
    } finally {
      await producer.close()
    }
    const dir = await mkdtemp(join(tmpdir(), 'sluice-pt-'))
    const batches: BatchProgress[] = []
    try {
      await run(
        pipeline(`pt-${topic}`)
          // A client buffer far smaller than the backlog and no linger: before the fix, a batch got the
          // few hundred buffered records and the rest waited for later intervals.
          .from(kafka({ topics: topic, brokers: brokers(), highWaterMark: 200 }))
          .parse(z.object({ i: z.number(), pad: z.string() }))
          .to(memory()),
        {
          checkpoint: dir,
          trigger: { kind: 'processingTime', intervalMs: 200 },
          lingerMs: 0,
          maxBatches: 1,
          onProgress: (p) => batches.push(p),
        },
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    assert.equal(batches.length, 1)
    assert.equal(batches[0]?.inputRows, n)
  })
})
