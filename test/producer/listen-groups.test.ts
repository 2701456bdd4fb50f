import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { freshTopic, uniqueGroup } from '../helpers/kafka.ts'
import { runSluice, Sluice } from './cli.ts'

const N = 2000

interface Position {
  partition: number
  offset: string
}

function positions(run: Sluice): string[] {
  return run.stdoutLines().map((line) => {
    const { partition, offset } = JSON.parse(line) as Position
    return `${partition}:${offset}`
  })
}

async function produce(topic: string): Promise<void> {
  const result = await runSluice([
    'produce',
    '--topic',
    topic,
    '--count',
    String(N),
    '--seed',
    '8',
    '--rate',
    'unlimited',
  ])
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stderr, new RegExp(`^Produced ${N} events to ${topic} `, 'm'))
}

describe('produced events reach every listener, or are shared within a group', () => {
  test('two listeners without --group each receive all events', async () => {
    const topic = await freshTopic('fan-out', 3)
    await produce(topic)
    const listeners = [0, 1].map(
      () => new Sluice(['listen', '--topic', topic, '--from-beginning', '--max', String(N), '--json']),
    )
    try {
      const [a, b] = await Promise.all(listeners.map((l) => l.exited))
      for (const result of [a!, b!]) {
        assert.equal(result.code, 0, result.stderr)
        assert.match(result.stderr, new RegExp(`Received ${N} record`))
      }
      const first = positions(listeners[0]!)
      assert.equal(new Set(first).size, N)
      assert.deepEqual(new Set(positions(listeners[1]!)), new Set(first))
    } finally {
      for (const l of listeners) l.kill()
    }
  })

  test('two listeners in one --group receive disjoint shares that add up to all events', async () => {
    const topic = await freshTopic('group-share', 3)
    const group = uniqueGroup('listen-share')
    const listeners = [0, 1].map(
      () => new Sluice(['listen', '--topic', topic, '--group', group, '--from-beginning', '--json']),
    )
    try {
      // Both members own partitions: the group has settled, and every record will go to exactly one of them.
      await Promise.all(listeners.map((l) => l.waitForStderr(/^Listening to .* in group /m)))
      await produce(topic)
      await listeners[0]!.waitFor(
        () => listeners.reduce((sum, l) => sum + l.stdoutLines().length, 0) >= N,
        `${N} records between the two listeners`,
      )
      // Anything delivered twice would arrive now.
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const finished = await Promise.all(listeners.map((l) => l.stop('SIGINT')))
      for (const f of finished) assert.equal(f.code, 0, f.stderr)
      const [a, b] = listeners.map(positions) as [string[], string[]]
      assert.ok(a.length > 0 && b.length > 0, `shares ${a.length} and ${b.length}`)
      const inA = new Set(a)
      assert.equal(b.filter((p) => inA.has(p)).length, 0, 'no record reaches both members')
      assert.equal(new Set([...a, ...b]).size, N)
      assert.equal(a.length + b.length, N)
    } finally {
      for (const l of listeners) l.kill()
    }
  })
})
