/**
 * SIGKILL during a run into FerretDB (no transactions: the idempotent path), then to the end. A child process
 * inserts 15 000 orders (fixtures/crash-pipeline.ts) and is killed once right after the sink committed a batch
 * (before the checkpoint marks it), then twice at a random instant of a random batch (the rows of a batch may
 * then be in the collection before its positions moved). After each kill every order up to the positions is
 * there once and none twice; at the end the collection holds every order exactly once, compared by content
 * with the orders computed here.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { BATCH_RECORDS, ORDERS, type Order, order, PIPELINE_ID } from './fixtures/crash-pipeline.ts'
import { positionsOf, tempDir, useFerretDb } from './util.ts'

const { server, db } = useFerretDb()
const fixture = join(import.meta.dirname, 'fixtures', 'crash-pipeline.ts')
const PARTITIONS = 3

interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stderr: string
  /** The batches this run committed, in order. */
  readonly batches: readonly number[]
  readonly done: boolean
}

/**
 * Runs the child. With `kill`, SIGKILLs it once it committed batch `after`, a random share of the time its
 * last batch took later: a random instant of the batch that follows.
 */
function runChild(checkpoint: string, env: Record<string, string>, kill?: { after: number }): Promise<Exit> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [fixture, server().url, server().database, checkpoint], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    let partial = ''
    const batches: number[] = []
    let done = false
    let last = Date.now()
    let armed = false
    proc.stderr.on('data', (d: Buffer) => {
      stderr = `${stderr}${d.toString()}`.slice(-8000)
    })
    proc.stdout.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        const [what, id] = line.split(' ')
        if (line === 'done') done = true
        if (what !== 'batch') continue
        const took = Date.now() - last
        last = Date.now()
        batches.push(Number(id))
        if (kill && !armed && Number(id) >= kill.after) {
          armed = true
          setTimeout(() => proc.kill('SIGKILL'), Math.floor(Math.random() * took))
        }
      }
    })
    proc.on('exit', (code, signal) => resolve({ code, signal, stderr, batches, done }))
  })
}

/** The orders the collection holds, by id, and how many times each. */
async function stored(): Promise<{ orders: Order[]; ids: Map<number, number> }> {
  const documents = await db().collection('orders').find().toArray()
  const orders = documents.map(({ _id, ...fields }) => fields as unknown as Order)
  const ids = new Map<number, number>()
  for (const o of orders) ids.set(o.id, (ids.get(o.id) ?? 0) + 1)
  return { orders, ids }
}

/** Order i is record floor(i / 3) of partition p(i % 3). */
const before = (positions: Readonly<Record<string, number>>, i: number) =>
  Math.floor(i / PARTITIONS) < (positions[`p${i % PARTITIONS}`] ?? 0)

/** Every order up to the positions once, none twice; returns how many are up to the positions and past them. */
async function assertHoldsPositions(when: string): Promise<{ committed: number; ahead: number }> {
  const { positions } = await positionsOf(db(), PIPELINE_ID)
  const { ids } = await stored()
  const twice = [...ids].filter(([, n]) => n > 1).map(([id]) => id)
  assert.deepEqual(twice.slice(0, 5), [], `${when}: orders written twice`)
  let committed = 0
  const missing: number[] = []
  for (let i = 0; i < ORDERS; i++)
    if (before(positions, i)) {
      committed++
      if (!ids.has(i)) missing.push(i)
    }
  assert.deepEqual(missing.slice(0, 5), [], `${when}: ${missing.length} orders before the positions missing`)
  return { committed, ahead: ids.size - committed }
}

describe('mongodb sink (FerretDB, idempotent writes): crashes', () => {
  test('SIGKILL after a sink commit and at two random instants, then to the end: every order exactly once', {
    timeout: 120_000,
  }, async (t) => {
    const checkpoint = await tempDir()
    const batches = ORDERS / BATCH_RECORDS
    const story: string[] = []

    const first = await runChild(checkpoint, { SLUICE_CRASH: 'commit:2' })
    assert.equal(first.signal, 'SIGKILL', `the first run was not killed: ${first.stderr}`)
    let held = await assertHoldsPositions('after the kill after the sink commit of batch 2')
    story.push(`kill 1 after the sink committed batch 2: ${held.committed} committed, ${held.ahead} past`)

    let next = 3
    for (const kill of [2, 3]) {
      // A batch two to five past the last one committed (the run has 15), killed at a random instant of the next.
      const after = Math.min(next + 1 + Math.floor(Math.random() * 4), batches - 3)
      const result = await runChild(checkpoint, {}, { after })
      assert.equal(result.signal, 'SIGKILL', `run ${kill} ended before its kill: ${result.stderr}`)
      assert.ok(result.batches.length > 0, `run ${kill} committed no batch before its kill`)
      held = await assertHoldsPositions(`after kill ${kill}`)
      story.push(`kill ${kill} in the batch after ${after}: ${held.committed} committed, ${held.ahead} past`)
      next = Math.max(...result.batches) + 1
    }

    const last = await runChild(checkpoint, {})
    assert.equal(last.code, 0, last.stderr)
    assert.ok(last.done && last.batches.length > 0, 'the last run wrote the rest')
    t.diagnostic(story.join(' | '))

    const { orders, ids } = await stored()
    assert.equal(ids.size, ORDERS, 'every order is there')
    assert.equal(orders.length, ORDERS, 'no order twice')
    const text = (o: Order) => JSON.stringify([o.id, o.user, o.cents])
    assert.deepEqual(
      orders.map(text).sort(),
      Array.from({ length: ORDERS }, (_, i) => text(order(i))).sort(),
      'the documents are the orders, by content',
    )
    const end = ORDERS / PARTITIONS
    assert.deepEqual((await positionsOf(db(), PIPELINE_ID)).positions, { p0: end, p1: end, p2: end })
    assert.equal(
      await db().collection('sluice_dead_letters').countDocuments({ pipeline: PIPELINE_ID }),
      0,
      'no dead letters',
    )
  })
})
