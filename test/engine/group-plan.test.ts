import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { z } from 'zod'
import { count } from '../../src/aggregate/index.ts'
import { KafkaAdmin } from '../../src/connectors/kafka/admin.ts'
import {
  checkMembers,
  decodeMemberPlan,
  encodeMemberPlan,
  type MemberPlan,
  memberPlan,
  PlanConflictError,
  planDifferences,
} from '../../src/connectors/kafka/group-plan.ts'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { kafka } from '../../src/connectors/kafka/source.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { type Pipeline, pipeline } from '../../src/dsl/stream.ts'
import { type RunSummary, run } from '../../src/runtime/run.ts'
import { tumbling } from '../../src/window/index.ts'
import { runCli } from '../helpers/cli.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * One pipeline id is one plan: an instance whose plan differs from the one running in the pipeline's consumer
 * group is refused before it takes partitions, offsets or transactions from it; instances of the same plan
 * share the group as before.
 */

const dirs: string[] = []
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-group-plan-'))
  dirs.push(dir)
  return dir
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

const Event = z.object({ id: z.number(), key: z.string(), t: z.number() })

/** A stateless plan: every event projected. */
function projection(id: string, topic: string) {
  return pipeline(id)
    .from(kafka({ topics: topic, brokers: brokers() }))
    .parse(Event)
    .map((e) => ({ id: e.id }))
    .to(memory())
}

/** Another plan under the same id: per-key 10-second counts. */
function counts(id: string, topic: string) {
  return pipeline(id)
    .from(kafka({ topics: topic, brokers: brokers() }))
    .parse(Event)
    .withWatermark('t', '5s')
    .keyBy((e) => e.key)
    .window(tumbling('10s'))
    .aggregate(count())
    .to(memory())
}

async function produce(topic: string, n: number): Promise<void> {
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    await producer.send(
      Array.from({ length: n }, (_, i) => ({
        topic,
        key: `k${i % 7}`,
        value: JSON.stringify({ id: i, key: `k${i % 7}`, t: Date.now() }),
      })),
    )
  } finally {
    await producer.close()
  }
}

async function members(groupId: string) {
  const admin = new KafkaAdmin({ brokers: brokers() })
  try {
    return await admin.describeGroup(groupId)
  } finally {
    await admin.close()
  }
}

/** Runs a pipeline in the background until stopped; `batches` counts its non-empty batches. */
async function background(p: Pipeline<unknown>) {
  const stop = new AbortController()
  let batches = 0
  const done: Promise<RunSummary> = run(p, {
    checkpoint: await tempDir(),
    trigger: { kind: 'processingTime', intervalMs: 200 },
    signal: stop.signal,
    onProgress: (b) => {
      if (b.inputRows > 0) batches++
    },
  })
  return { stop: () => stop.abort(), done, batches: () => batches }
}

describe('a pipeline id is one plan in its consumer group', () => {
  test('a second plan under a running id is refused with both fingerprints and what differs', async () => {
    const topic = await freshTopic('plan-conflict', 2)
    const id = `plan-conflict-${topic.slice(-8)}`
    await produce(topic, 500)
    const first = await background(projection(id, topic))
    try {
      await waitFor(() => first.batches() > 0, 30_000, 'the first plan to process a batch')
      const refused = await run(counts(id, topic), {
        checkpoint: await tempDir(),
        trigger: { kind: 'availableNow' },
      }).then(
        () => undefined,
        (error: unknown) => error,
      )
      assert.ok(refused instanceof PlanConflictError, `refused with a PlanConflictError, got ${refused}`)
      assert.equal(refused.code, 'SLUICE_PLAN_CONFLICT')
      assert.equal(refused.exitCode, 2)
      const mine = memberPlan(counts(id, topic).plan)
      const theirs = memberPlan(projection(id, topic).plan)
      assert.notEqual(mine.fingerprint, theirs.fingerprint)
      assert.ok(refused.message.includes(`plan ${mine.fingerprint}`), refused.message)
      assert.ok(refused.message.includes(`plan ${theirs.fingerprint}`), refused.message)
      assert.ok(refused.message.includes(`consumer group "sluice-${id}"`), refused.message)
      assert.match(refused.message, /\+ window +window +window=\{"kind":"tumbling","size":10000\}/)
      assert.match(refused.message, /Give one of the pipelines another id/)
      if (process.env.SHOW_MESSAGE) console.log(refused.message)
      // The refused instance never joined: the group still has the first plan's member alone.
      const group = await members(`sluice-${id}`)
      assert.equal(group.members.length, 1)
      assert.equal(decodeMemberPlan(group.members[0]!.userData)?.fingerprint, theirs.fingerprint)
      assert.ok(first.batches() > 0)
    } finally {
      first.stop()
      await first.done
    }
  })

  test('the CLI refuses it with exit 2 and the message', async () => {
    const topic = await freshTopic('plan-conflict-cli', 1)
    const id = `plan-conflict-cli-${topic.slice(-8)}`
    await produce(topic, 100)
    const first = await background(projection(id, topic))
    try {
      await waitFor(() => first.batches() > 0, 30_000, 'the first plan to process a batch')
      const dir = await tempDir()
      const file = join(dir, 'other.yaml')
      await writeFile(
        file,
        `pipeline: ${id}\nsource: { kafka: { topics: ${topic} } }\nsteps:\n  - filter: "true"\nsink: { console: }\n`,
      )
      const r = await runCli(
        ['run', file, '--available-now', '--brokers', brokers(), '--checkpoint', join(dir, 'cp')],
        { timeoutMs: 60_000 },
      )
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, new RegExp(`^sluice: Pipeline "${id}" \\(plan [0-9a-f]{16}, .*other\\.yaml`))
      assert.match(r.stderr, /runs another plan under this id \(plan [0-9a-f]{16}, /)
    } finally {
      first.stop()
      await first.done
    }
  })

  test('the same plan started twice: both join the group and both run', async () => {
    const topic = await freshTopic('plan-same', 2)
    const id = `plan-same-${topic.slice(-8)}`
    const a = await background(projection(id, topic))
    const b = await background(projection(id, topic))
    try {
      const deadline = Date.now() + 60_000
      for (;;) {
        const group = await members(`sluice-${id}`)
        if (group.state === 'Stable' && group.members.length === 2) break
        assert.ok(Date.now() < deadline, `both instances in the group: ${JSON.stringify(group.state)}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      // With one partition each, both get records.
      await produce(topic, 400)
      await waitFor(() => a.batches() > 0 && b.batches() > 0, 30_000, 'both instances to process a batch')
      const group = await members(`sluice-${id}`)
      const fingerprints = new Set(group.members.map((m) => decodeMemberPlan(m.userData)?.fingerprint))
      assert.deepEqual([...fingerprints], [memberPlan(projection(id, topic).plan).fingerprint])
    } finally {
      a.stop()
      b.stop()
      await Promise.all([a.done, b.done])
    }
  })
})

describe('member plans', () => {
  const plan = (fingerprint: string, steps: string[]): MemberPlan => ({
    pipelineId: 'p',
    fingerprint,
    steps,
    runner: 'test',
  })
  const member = (memberId: string, userData: Buffer | undefined) => ({
    memberId,
    groupInstanceId: null,
    clientId: 'c',
    clientHost: '/127.0.0.1',
    userData,
  })

  test('round-trip through the subscription userData; other clients’ userData is no plan', () => {
    const p = plan('0123456789abcdef', ['source    source-0  type=kafka'])
    assert.deepEqual(decodeMemberPlan(encodeMemberPlan(p)), p)
    assert.equal(decodeMemberPlan(Buffer.from([0, 0, 0, 1])), undefined)
    assert.equal(decodeMemberPlan(undefined), undefined)
    assert.equal(decodeMemberPlan(Buffer.from('sluice-plan/1\n{nope')), undefined)
  })

  test('only members with another fingerprint conflict; the member itself and foreign members do not', () => {
    const mine = plan('aaaa', [])
    const same = member('m1', encodeMemberPlan(plan('aaaa', [])))
    const foreign = member('m2', Buffer.from('xyz'))
    const other = member('m3', encodeMemberPlan(plan('bbbb', [])))
    checkMembers('g', mine, [same, foreign, member('m4', undefined)])
    checkMembers('g', mine, [other], 'm3')
    assert.throws(() => checkMembers('g', mine, [same, other]), PlanConflictError)
  })

  test('differences are listed by step id', () => {
    const before = ['source    source-0  type=kafka', 'map       map-2', 'sink      sink-3  type=memory']
    const after = [
      'source    source-0  type=kafka',
      'dedupe    dedupe-2  withinMs=600000',
      'sink      sink-3  type=kafka topic=x',
    ]
    assert.deepEqual(planDifferences(before, after), [
      '- map       map-2',
      '~ sink      sink-3  type=memory  →  sink      sink-3  type=kafka topic=x',
      '+ dedupe    dedupe-2  withinMs=600000',
    ])
  })
})
