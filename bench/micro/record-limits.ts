/**
 * What the record-limit check (src/dsl/json-limits.ts) costs per clickstream event, against decoding alone:
 * `node bench/micro/record-limits.ts`. Best of 15 passes over 200,000 events of ~500 bytes.
 */
import { TextDecoder } from 'node:util'
import { ClickstreamGenerator } from '../../src/clickstream/generator.ts'
import { JsonLimitsChecker } from '../../src/dsl/json-limits.ts'
import { DEFAULT_RECORD_LIMITS } from '../../src/plan/record-limits.ts'

const N = 200_000
const generator = new ClickstreamGenerator({ seed: 1, users: 100_000, startTime: Date.parse('2026-01-01') })
const buffers = Array.from({ length: N }, () => generator.next().value)
const utf8 = new TextDecoder('utf-8', { fatal: true })
const checker = new JsonLimitsChecker(DEFAULT_RECORD_LIMITS)
const decoded = buffers.map((b) => {
  const text = utf8.decode(b)
  return { text, value: JSON.parse(text) as unknown }
})

let kept = 0
const passes: Record<string, () => void> = {
  decode: () => {
    for (const b of buffers) if (JSON.parse(utf8.decode(b)) !== undefined) kept++
  },
  'decode + check': () => {
    for (const b of buffers) {
      const text = utf8.decode(b)
      if (checker.check(JSON.parse(text), text) === undefined) kept++
    }
  },
  'check only': () => {
    for (const { text, value } of decoded) if (checker.check(value, text) === undefined) kept++
  },
}
const best: Record<string, number> = {}
for (let round = 0; round < 15; round++) {
  for (const [name, pass] of Object.entries(passes)) {
    const start = performance.now()
    pass()
    const us = ((performance.now() - start) * 1000) / N
    best[name] = Math.min(best[name] ?? Number.POSITIVE_INFINITY, us)
  }
}
const bytes = buffers.reduce((sum, b) => sum + b.length, 0) / N
console.log(`${N} events of ${bytes.toFixed(0)} bytes on average, best of 15 (${kept} checked):`)
for (const [name, us] of Object.entries(best)) console.log(`  ${name.padEnd(15)} ${us.toFixed(3)} µs/event`)
