import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { KafkaProducer } from '../../src/connectors/kafka/producer.ts'
import { runCli } from '../helpers/cli.ts'
import { brokers, freshTopic } from '../helpers/kafka.ts'

/**
 * `sluice listen --headers` shows each record's headers; on a dead-letter topic (written by a real
 * `sluice run`) the reason a record was refused shows without asking.
 */

let dir: string
let input: string
let deadLetters: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-listen-headers-'))
  input = await freshTopic('listen-headers-in', 1)
  deadLetters = await freshTopic('listen-headers-dlq', 1)
  const output = await freshTopic('listen-headers-out', 1)
  const producer = new KafkaProducer({ brokers: brokers() })
  try {
    await producer.send([
      { topic: input, key: 'a', value: '{"id":1}', headers: { origin: 'test', trace: 't-1' } },
      { topic: input, key: 'b', value: 'not json at all' },
    ])
  } finally {
    await producer.close()
  }
  const file = join(dir, 'p.yaml')
  await writeFile(
    file,
    `pipeline: listen-headers-${Date.now()}\nsource: { kafka: { topics: ${input}, startingOffsets: earliest } }\nsteps:\n  - map: { id: event.id }\nsink:\n  kafka: { topic: ${output} }\n  deadLetters: { topic: ${deadLetters} }\n`,
  )
  const r = await runCli(
    ['run', file, '--available-now', '--brokers', brokers(), '--checkpoint', join(dir, 'cp')],
    { timeoutMs: 120_000 },
  )
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stderr, /1 dead-lettered/)
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

function listen(topic: string, ...flags: string[]) {
  return runCli([
    'listen',
    '--brokers',
    brokers(),
    '--topic',
    topic,
    '--from-beginning',
    '--max',
    '1',
    ...flags,
  ])
}

describe('sluice listen: headers', () => {
  test('--headers shows every header of a record; without it none', async () => {
    const plain = await listen(input)
    assert.equal(plain.code, 0, plain.stderr)
    assert.doesNotMatch(plain.stdout, /origin/)
    const pretty = await listen(input, '--headers')
    assert.equal(pretty.code, 0, pretty.stderr)
    assert.match(pretty.stdout, /^ {2}origin: test$/m)
    assert.match(pretty.stdout, /^ {2}trace: t-1$/m)
    const json = await listen(input, '--headers', '--json')
    assert.deepEqual((JSON.parse(json.stdout) as { headers: unknown }).headers, {
      origin: 'test',
      trace: 't-1',
    })
  })

  test("a dead letter's reason shows by default; --headers shows all of its headers", async () => {
    const pretty = await listen(deadLetters)
    assert.equal(pretty.code, 0, pretty.stderr)
    const reasonLine = pretty.stdout.split('\n').find((l) => l.startsWith('dead letter: '))
    assert.ok(reasonLine, pretty.stdout)
    assert.match(reasonLine, /JSON/i, 'the reason says the value is not JSON')
    assert.ok(reasonLine.endsWith(`(step parse, source ${input}:0@1)`), reasonLine)
    assert.match(pretty.stdout, /^not json at all$/m, 'the raw value follows')

    const json = JSON.parse((await listen(deadLetters, '--json')).stdout) as {
      deadLetter?: { reason: string; operator: string; source: string }
    }
    assert.ok(json.deadLetter, 'a deadLetter object')
    assert.ok(reasonLine.includes(json.deadLetter.reason))
    assert.equal(json.deadLetter.source, `${input}:0@1`)

    const all = await listen(deadLetters, '--headers')
    assert.match(all.stdout, /^ {2}sluice-dlq-reason: /m)
    assert.match(all.stdout, /^ {2}sluice-dlq-operator: \S+$/m)
    assert.match(all.stdout, new RegExp(`^ {2}sluice-dlq-source: ${input}:0@1$`, 'm'))
  })
})
