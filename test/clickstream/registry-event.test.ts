import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ClickstreamGenerator } from '../../src/clickstream/generator.ts'
import { clickEventFromRegistry } from '../../src/clickstream/registry-event.ts'
import { clickEventSchemaFor } from '../../src/clickstream/registry-schemas.ts'
import { clickEventSchema } from '../../src/clickstream/zod-schema.ts'
import { DEFAULT_RECORD_LIMITS } from '../../src/plan/record-limits.ts'
import { codecFor } from '../../src/registry/codec.ts'
import { FORMATS } from '../../src/registry/schema-type.ts'

// The main job's registry path (`sluice start --format`) holds decoded events to the JSON path's Zod schema:
// every event type, in each format, must come back as the JSON event it was.
test('clickstream events decoded from Avro, Protobuf and JSON Schema are the JSON events, and pass its schema', () => {
  const generator = new ClickstreamGenerator({
    seed: 4,
    users: 300,
    startTime: Date.parse('2026-05-01T10:00:00Z'),
  })
  const events = Array.from(
    { length: 3000 },
    () => JSON.parse(generator.next().value.toString('utf8')) as unknown,
  )
  assert.equal(
    new Set(events.map((e) => (e as { event_type: string }).event_type)).size,
    11,
    'every event type',
  )
  for (const format of FORMATS) {
    const codec = codecFor(clickEventSchemaFor(format), DEFAULT_RECORD_LIMITS)
    for (const event of events) {
      const decoded = codec.decode(codec.encode(event))
      assert.ok(decoded.ok, format)
      const parsed = clickEventSchema.safeParse(clickEventFromRegistry(decoded.value))
      assert.ok(parsed.success, `${format}: ${parsed.error?.message}`)
      assert.deepEqual(parsed.data, event, format)
    }
  }
})
