import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { z } from 'zod'
import { count } from '../../src/aggregate/index.ts'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import { KafkaChangelogStore } from '../../src/connectors/kafka/changelog-store.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { kafkaSink } from '../../src/connectors/kafka/sink.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { changelogTopic } from '../../src/contracts/changelog.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { silentLogger } from '../../src/log.ts'
import type { SourceReader } from '../../src/runtime/source.ts'
import { Task } from '../../src/runtime/task.ts'
import { TaskManager } from '../../src/runtime/task-manager.ts'
import { tumbling } from '../../src/window/index.ts'
import { brokers, freshTopic, uniqueGroup } from '../helpers/kafka.ts'

/**
 * The partition's previous owner closed windows in its last batch without reading records of the partition
 * (its restored windows, under a watermark that had moved): the batch changed the changelog, not the
 * partition's position. Kafka marks that transaction's offsets and its changelog partitions separately, so
 * the new owner could read the offsets as committed while the changelog's stable end was still the old one:
 * its local store, committed at that position and end, then looked current, and the closed windows came back
 * open and were emitted a second time (the 500,000-event scale-out soak). The broker cannot be made to hold
 * its markers back, so the test commits the transaction at the moment that matters: right after the new
 * owner first reads where the changelog ends.
 */
test('a task taken over right after its previous owner committed a windows-only batch restores from the changelog, not from a stale local store', {
  timeout: 120_000,
}, async () => {
  const input = await freshTopic('settle-in', 1)
  const plan = pipeline(`settle-${uniqueGroup('p')}`)
    .from(kafka({ topics: input }))
    .parse(z.object({ k: z.string(), t: z.number() }))
    .withWatermark('t', '5s')
    .keyByRecordKey()
    .window(tumbling('10s'))
    .aggregate(count())
    .to(kafkaSink({ topic: input })).plan
  const partition = `${input}:0`
  // The source as the runtime sees it: partition 0 owned, its assignment starting at the group's offset 5.
  const source = {
    ownedPartitions: () => new Set([partition]),
    assignment: () => ({ id: 1, start: 5, member: undefined }),
    partitioning: async () => ({ count: 1, numberOf: () => 0 }),
  } as unknown as SourceReader
  const dir = await mkdtemp(join(tmpdir(), 'sluice-settle-'))
  const store = new KafkaChangelogStore({ brokers: brokers() })
  const tasks = () =>
    new TaskManager({
      plan,
      source,
      changelog: store,
      directory: dir,
      tables: new Map(),
      localCommitMs: 0,
      logger: silentLogger,
      now: () => Date.now(),
    })
  const [topic] = Task.statefulOperators(plan).map((op) => changelogTopic(plan.pipelineId, op))
  assert.ok(topic)

  // This instance ran the partition before: its local store holds the state at offset 5.
  const before = tasks()
  await before.prepare()
  assert.equal((await before.ensure([]))?.tasks, 1)
  await before.suspendAll()
  before.close()

  // The other owner's last batch: a window closed (a tombstone), the position still 5; not committed yet.
  const producer = new KafkaProducer({ brokers: brokers(), transactionalId: uniqueGroup('settle-tx') })
  const last = await producer.beginTransaction()
  await last.send([{ topic, partition: 0, key: 'k1\u00001767225600000', value: null }])

  const offsets = Object.getOwnPropertyDescriptor(KafkaAdmin.prototype, 'offsets')!
  const original = offsets.value as KafkaAdmin['offsets']
  let committed: Promise<void> | undefined
  KafkaAdmin.prototype.offsets = async function (
    this: KafkaAdmin,
    ...args: Parameters<KafkaAdmin['offsets']>
  ) {
    const result = await original.apply(this, args)
    if (args[0] === topic && (args[2] ?? true) && !committed) {
      committed = last.commit()
      await committed
    }
    return result
  }
  const after = tasks()
  try {
    await after.prepare()
    const report = await after.ensure([])
    assert.ok(committed, 'the takeover read where the changelog ends')
    assert.equal(report?.fromLocal, 0, 'the local store is not current: the changelog moved on')
  } finally {
    Object.defineProperty(KafkaAdmin.prototype, 'offsets', offsets)
    after.close()
    await committed
    await producer.close()
    await rm(dir, { recursive: true, force: true })
  }
})
