import { isDeepStrictEqual } from 'node:util'
import { loadPipelineFile } from '../config/load.ts'
import type { TestCase } from '../config/test-file.ts'
import { TestDriver } from './test-driver.ts'

/** What one case gave: nothing wrong, or the lines of a readable diff. */
export interface CaseResult {
  readonly name: string
  readonly problems: readonly string[]
}

/** Runs each case of a test file over the pipeline file, each in a fresh TestDriver. */
export async function runTestCases(pipelineFile: string, cases: readonly TestCase[]): Promise<CaseResult[]> {
  const pipeline = await loadPipelineFile(pipelineFile)
  const results: CaseResult[] = []
  for (const c of cases) {
    const start = c.startTime ?? c.input.find((r) => r.time !== undefined)?.time
    const driver = await TestDriver.create(pipeline, {
      startTime: start === undefined ? 0 : Date.parse(start),
    })
    for (const record of c.input)
      driver.send(record.value, {
        ...(record.key === undefined ? {} : { key: record.key }),
        ...(record.time === undefined ? {} : { timestamp: Date.parse(record.time) }),
      })
    await driver.runBatchAsync()
    // Then the input ends (every window closes); records sent in that last batch would be behind its watermark.
    await driver.endInputAsync()
    const rows = driver.output.map(plain)
    const reasons = driver.deadLetters.map((d) => `${d.operator}: ${d.reason}`)
    results.push({
      name: c.name,
      problems: [...diffRows(c.output.map(plain), rows), ...diffDeadLetters(c.deadLetters ?? [], reasons)],
    })
  }
  return results
}

/** As JSON has it: what a sink would write (dates as ISO text, no undefined fields). */
function plain(value: unknown): unknown {
  return value === undefined ? null : JSON.parse(JSON.stringify(value))
}

function diffRows(expected: readonly unknown[], actual: readonly unknown[]): string[] {
  if (isDeepStrictEqual(expected, actual)) return []
  const lines = [`output: expected ${expected.length} rows, got ${actual.length}  (- expected, + actual)`]
  for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
    if (i < expected.length && i < actual.length && isDeepStrictEqual(expected[i], actual[i])) {
      lines.push(`    ${JSON.stringify(actual[i])}`)
      continue
    }
    if (i < expected.length) lines.push(`  - ${JSON.stringify(expected[i])}`)
    if (i < actual.length) lines.push(`  + ${JSON.stringify(actual[i])}`)
  }
  return lines
}

function diffDeadLetters(expected: readonly string[], reasons: readonly string[]): string[] {
  const matches =
    expected.length === reasons.length && expected.every((part, i) => reasons[i]!.includes(part))
  if (matches) return []
  return [
    `dead letters: expected ${expected.length}, got ${reasons.length}`,
    ...expected.map((e) => `  - …${e}…`),
    ...reasons.map((r) => `  + ${r}`),
  ]
}
