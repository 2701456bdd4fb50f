import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { TextDecoder } from 'node:util'
import {
  BAD_KINDS,
  CATALOGUE_SIZE,
  CATEGORIES,
  type ClickEvent,
  ClickstreamGenerator,
  ClickstreamSimulator,
  catalogueCsv,
  catalogueJsonLines,
  EVENT_TYPES,
  type GeneratedRecord,
  LATE_MAX_MS,
  LATE_MIN_MS,
  PRODUCTS,
  Random,
  writeCatalogue,
  Zipf,
} from '../../src/clickstream/index.ts'
import { validator } from './json-schema.ts'

const START = Date.parse('2026-03-02T09:00:00Z')
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const schema = JSON.parse(
  await readFile(new URL('../../schemas/clickstream-event.schema.json', import.meta.url), 'utf8'),
)
const validate = validator(schema)

function records(
  options: ConstructorParameters<typeof ClickstreamGenerator>[0],
  n: number,
): GeneratedRecord[] {
  const generator = new ClickstreamGenerator(options)
  return Array.from({ length: n }, () => generator.next())
}

/** The parsed event, or undefined when the bytes are not UTF-8 JSON. */
function parse(value: Buffer): ClickEvent | undefined {
  try {
    return JSON.parse(strictUtf8.decode(value)) as ClickEvent
  } catch {
    return undefined
  }
}

describe('seeded random numbers', () => {
  test('the same seed gives the same sequence, another seed or stream another one', () => {
    const draw = (seed: number, stream = '') => {
      const r = new Random(seed, stream)
      return Array.from({ length: 100 }, () => r.u32())
    }
    assert.deepEqual(draw(42), draw(42))
    assert.notDeepEqual(draw(42), draw(43))
    assert.notDeepEqual(draw(42), draw(42, 'other'))
  })

  test('draws are uniform in [0, 1) and UUIDs are well-formed and distinct', () => {
    const r = new Random(7)
    let sum = 0
    const buckets = new Array(10).fill(0)
    for (let i = 0; i < 100_000; i++) {
      const x = r.next()
      assert.ok(x >= 0 && x < 1)
      sum += x
      buckets[Math.floor(x * 10)]++
    }
    assert.ok(Math.abs(sum / 100_000 - 0.5) < 0.01)
    for (const b of buckets) assert.ok(Math.abs(b - 10_000) < 500, `bucket ${b}`)
    const ids = new Set(Array.from({ length: 10_000 }, () => r.uuid()))
    assert.equal(ids.size, 10_000)
    for (const id of ids)
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })

  test('Zipf ranks follow their probabilities: a few items get most draws', () => {
    const zipf = new Zipf(500, 1.05)
    const r = new Random(1)
    const counts = new Array(500).fill(0)
    const n = 200_000
    for (let i = 0; i < n; i++) counts[zipf.sample(r)]++
    for (const k of [0, 1, 2, 9, 99]) {
      const expected = zipf.probability(k) * n
      assert.ok(
        Math.abs(counts[k] - expected) < 5 * Math.sqrt(expected) + 5,
        `rank ${k}: ${counts[k]} vs ${expected}`,
      )
    }
    assert.ok(counts[0] > counts[1] && counts[1] > counts[2] && counts[2] > counts[10])
    const top50 = counts.slice(0, 50).reduce((a, b) => a + b, 0)
    assert.ok(top50 / n > 0.5, 'the top 10% of products get most of the draws')
  })
})

describe('product catalogue', () => {
  test('500 products in 10 categories with stable ids and prices', async () => {
    assert.equal(PRODUCTS.length, CATALOGUE_SIZE)
    assert.equal(CATEGORIES.length, 10)
    assert.deepEqual(
      PRODUCTS.map((p) => p.id),
      Array.from({ length: 500 }, (_, i) => `p-${String(i + 1).padStart(4, '0')}`),
    )
    assert.equal(new Set(PRODUCTS.map((p) => p.name)).size, 500, 'names are unique')
    for (const c of CATEGORIES) assert.ok(PRODUCTS.filter((p) => p.category === c.slug).length >= 20, c.slug)
    for (const p of PRODUCTS) {
      assert.ok(p.price > 0 && Math.round(p.price * 100) === p.priceCents, `${p.id} ${p.price}`)
    }
    const lines = catalogueJsonLines().trimEnd().split('\n')
    assert.equal(lines.length, 500)
    assert.deepEqual(JSON.parse(lines[41]!), {
      id: 'p-0042',
      name: PRODUCTS[41]!.name,
      category: PRODUCTS[41]!.category,
      price: PRODUCTS[41]!.price,
    })
    const csv = catalogueCsv().trimEnd().split('\n')
    assert.equal(csv[0], 'id,name,category,price')
    assert.equal(csv.length, 501)

    const dir = await mkdtemp(join(tmpdir(), 'sluice-catalogue-'))
    try {
      await writeCatalogue(join(dir, 'products.csv'))
      await writeCatalogue(join(dir, 'products.jsonl'))
      assert.equal(await readFile(join(dir, 'products.csv'), 'utf8'), catalogueCsv())
      assert.equal(await readFile(join(dir, 'products.jsonl'), 'utf8'), catalogueJsonLines())
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('clickstream model', () => {
  const options = { seed: 1234, users: 500, startTime: START, bad: 0.05, late: 0.05, dupes: 0.05 }

  test('the same seed gives byte-identical records; another seed different ones', () => {
    const a = records(options, 5000)
    const b = records(options, 5000)
    assert.equal(a.length, b.length)
    for (let i = 0; i < a.length; i++) {
      assert.equal(a[i]!.key, b[i]!.key)
      assert.ok(a[i]!.value.equals(b[i]!.value), `record ${i}`)
      assert.equal(a[i]!.injected, b[i]!.injected)
    }
    const c = records({ ...options, seed: 1235 }, 100)
    assert.ok(c.filter((r, i) => r.value.equals(a[i]!.value)).length === 0)
    const d = records({ ...options, startTime: START + 1000 }, 10)
    assert.notDeepEqual(
      d.map((r) => r.value.toString()),
      a.slice(0, 10).map((r) => r.value.toString()),
    )
  })

  test('valid events match the JSON Schema, are keyed by user id and ~300-550 bytes', () => {
    const sample = records({ seed: 99, users: 2000, startTime: START }, 20_000)
    const types = new Set<string>()
    let bytes = 0
    for (const record of sample) {
      const event = parse(record.value)
      assert.ok(event, 'valid JSON')
      assert.deepEqual(validate(event), [], record.value.toString())
      assert.equal(record.key, event.user_id)
      types.add(event.event_type)
      bytes += record.value.length
    }
    assert.deepEqual([...types].sort(), [...EVENT_TYPES].sort(), 'every event type occurs')
    const average = bytes / sample.length
    assert.ok(average > 300 && average < 550, `average ${average} bytes`)
  })

  test('sessions walk a funnel: most bounce early, a few purchase, time only moves forward', () => {
    const simulator = new ClickstreamSimulator({ seed: 5, users: 5000, startTime: START })
    const sessions = new Map<string, ClickEvent[]>()
    let previous = START
    for (let i = 0; i < 50_000; i++) {
      const event = simulator.next()
      const time = Date.parse(event.event_time)
      assert.ok(time >= previous, 'events come in event-time order')
      previous = time
      const list = sessions.get(event.session_id) ?? []
      list.push(event)
      sessions.set(event.session_id, list)
    }
    const all = [...sessions.values()]
    const short = all.filter((s) => s.length <= 3).length / all.length
    const purchased = all.filter((s) => s.some((e) => e.event_type === 'purchase')).length / all.length
    assert.ok(short > 0.5, `${short} of sessions have at most 3 events`)
    assert.ok(purchased > 0.003 && purchased < 0.08, `${purchased} of sessions purchase`)
    for (const session of all) {
      assert.equal(new Set(session.map((e) => e.user_id)).size, 1, 'a session belongs to one user')
      const first = session[0]!
      assert.ok(first.event_type === (first.platform === 'web' ? 'page_view' : 'app_open'))
      for (const e of session.slice(1)) assert.equal(e.utm, null, 'utm only on the landing event')
      for (const e of session.filter((x) => x.event_type === 'purchase')) {
        assert.ok(e.order && e.order.total > 0 && e.order.items > 0)
      }
    }
    const popular = new Map<string, number>()
    for (const s of all)
      for (const e of s) if (e.product) popular.set(e.product.id, (popular.get(e.product.id) ?? 0) + 1)
    const counts = [...popular.values()].sort((a, b) => b - a)
    const total = counts.reduce((a, b) => a + b, 0)
    assert.ok(counts.slice(0, 50).reduce((a, b) => a + b, 0) / total > 0.4, 'popular products dominate')
    // Simulated traffic: about users/100 events per second of event time.
    const perSecond = 50_000 / ((previous - START) / 1000)
    assert.ok(perSecond > 25 && perSecond < 100, `${perSecond} events per simulated second`)
  })

  test('--bad, --late and --dupes fractions hold, and each injected record is what it says', () => {
    const n = 20_000
    const sample = records({ seed: 77, users: 1000, startTime: START, bad: 0.1, late: 0.05, dupes: 0.05 }, n)
    const seen = new Map<string, Buffer>()
    const kinds = new Map<string, number>()
    let clock = START
    for (const record of sample) {
      kinds.set(record.injected ?? 'none', (kinds.get(record.injected ?? 'none') ?? 0) + 1)
      const event = parse(record.value)
      if (record.injected?.startsWith('bad:')) {
        assert.ok(event === undefined || validate(event).length > 0, `${record.injected} must be invalid`)
        continue
      }
      assert.ok(event, 'late, duplicate and plain records are valid JSON')
      assert.deepEqual(validate(event), [])
      const time = Date.parse(event.event_time)
      if (record.injected === 'dupe') {
        assert.ok(
          seen.get(event.event_id)?.equals(record.value),
          'a duplicate repeats an earlier record exactly',
        )
        continue
      }
      assert.ok(!seen.has(event.event_id), 'event ids are unique')
      seen.set(event.event_id, record.value)
      if (record.injected === 'late') {
        assert.ok(
          clock - time >= LATE_MIN_MS - 60_000 && clock - time <= LATE_MAX_MS,
          `${clock - time} ms late`,
        )
      } else {
        clock = Math.max(clock, time)
      }
    }
    const share = (prefix: string) =>
      [...kinds].filter(([k]) => k.startsWith(prefix)).reduce((sum, [, c]) => sum + c, 0) / n
    assert.ok(Math.abs(share('bad:') - 0.1) < 0.01, `bad ${share('bad:')}`)
    assert.ok(Math.abs(share('late') - 0.05) < 0.008, `late ${share('late')}`)
    assert.ok(Math.abs(share('dupe') - 0.05) < 0.008, `dupes ${share('dupe')}`)
    for (const kind of BAD_KINDS) {
      const c = kinds.get(`bad:${kind}`) ?? 0
      assert.ok(Math.abs(c / n - 0.025) < 0.006, `${kind}: ${c}`)
    }
    // Invalid UTF-8 really is invalid, and broken JSON really is broken.
    const utf8 = sample.find((r) => r.injected === 'bad:invalid-utf8')!
    assert.throws(() => strictUtf8.decode(utf8.value))
    const broken = sample.find((r) => r.injected === 'bad:broken-json')!
    assert.throws(() => JSON.parse(broken.value.toString()))
  })
})
