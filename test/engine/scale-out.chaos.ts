import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type Instance, produceIds, seeded, settle, startInstance } from '../helpers/instances.ts'
import { freshTopic } from '../helpers/kafka.ts'
import { waitFor } from '../helpers/wait.ts'
import { assertExactlyOnce, OutputReader, PARTITIONS, tempDir } from './scale-out-fixture.ts'

describe('a stateless pipeline scaled out over several instances', () => {
  // Longer than the suite's 2 minutes: the instance killed for good leaves a transaction open, which holds
  // its partitions' offsets until the broker aborts it (30 s timeout, up to 10 s more for the abort sweep).
  test('instances join, are SIGKILLed and replaced, and leave (1 → 3 → 2) while input arrives: every input once', {
    timeout: 360_000,
  }, async () => {
    const input = await freshTopic('scale-in', PARTITIONS)
    const output = await freshTopic('scale-out', 3)
    const reader = new OutputReader(output)
    const checkpoints = new Map<string, string>()
    const running = new Map<string, Instance>()
    const start = async (name: string) => {
      if (!checkpoints.has(name)) checkpoints.set(name, await tempDir())
      running.set(name, startInstance('stateless', name, input, output, checkpoints.get(name)!))
    }
    const kill = async (name: string, signal: NodeJS.Signals = 'SIGKILL') => {
      const instance = running.get(name)!
      instance.child.kill(signal)
      await instance.exited
      running.delete(name)
    }
    const random = seeded(4242)
    const CHUNK = 10_000
    let produced = 0
    const produceChunk = async () => {
      await produceIds(input, produced, produced + CHUNK, PARTITIONS)
      produced += CHUNK
    }
    /** Waits until the output has grown by `k` more records (the instances are working). */
    const progress = async (k: number) => {
      const target = Math.min(produced, reader.ids.length + k)
      await waitFor(() => reader.ids.length >= target, 120_000, `${target} output records`)
    }
    try {
      await start('w1')
      await produceChunk()
      await progress(3000)
      // 1 → 3
      await start('w2')
      await start('w3')
      for (let round = 0; round < 5; round++) {
        await produceChunk()
        await progress(1000 + Math.floor(random() * 4000))
        // A random instance dies mid-batch and is replaced under the same name.
        const victim = [...running.keys()][Math.floor(random() * running.size)]!
        await kill(victim)
        await start(victim)
      }
      // 3 → 2: one leaves for good (killed: its partitions move when its session times out).
      await kill([...running.keys()][Math.floor(random() * running.size)]!)
      for (let round = 0; round < 3; round++) {
        await produceChunk()
        await progress(2000)
      }
      await waitFor(() => reader.ids.length >= produced, 180_000, `all ${produced} inputs in the output`)
      await settle(input, output, (end) => reader.readThrough(end))
      assertExactlyOnce(reader.ids, produced)
      const writers = [...reader.writers.entries()].filter(([, n]) => n > 0)
      assert.ok(writers.length >= 3, `the instances shared the input: ${JSON.stringify(writers)}`)
    } finally {
      for (const name of [...running.keys()]) await kill(name)
      await reader.close()
    }
  })
})
