import { readFile } from 'node:fs/promises'
import { LineCounter, parseDocument } from 'yaml'
import { z } from 'zod'
import { type FileProblem, PipelineFileError } from './errors.ts'
import { documentProblems } from './issues.ts'
import { fields } from './schema-helpers.ts'
import { SourceMap } from './source-map.ts'

/**
 * A `sluice test` file: cases for one pipeline file, each input records and the rows (and dead letters) they
 * must give, as `rpk connect test` has them. The input is one batch, after which the input ends (every window
 * closes), run through the deterministic TestDriver: no broker, no clock.
 *
 * ```yaml
 * pipeline: page-metrics.yaml            # relative to this file
 * tests:
 *   - name: a click counts
 *     input:
 *       - value: { event_type: click, event_time: "2026-11-25T10:00:01Z", page: { path: / } }
 *         key: u1                         # optional: the record's key
 *         time: 2026-11-25T10:00:01Z      # optional: the record's timestamp (default startTime)
 *     output:                             # every row, in order, exactly
 *       - { page: /, clicks: 1 }
 *     deadLetters: [schema violation]     # optional: one part of each dead letter's reason (default: none)
 * ```
 */

const isoTime = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), 'expected an ISO-8601 time such as 2026-11-25T10:00:00Z')

const inputRecord = fields('an input record', {
  value: z.unknown().refine((v) => v !== undefined, 'give the record in value: a mapping or a string'),
  key: z.string().optional(),
  time: isoTime.optional(),
})

const testCase = fields('a test', {
  name: z.string().min(1),
  startTime: isoTime.optional(),
  input: z.array(inputRecord),
  output: z.array(z.unknown()),
  deadLetters: z.array(z.string()).optional(),
})

const testDocument = fields('a test file', {
  pipeline: z.string().min(1),
  tests: z.array(testCase).min(1, 'give at least one test'),
})

export type TestDocument = z.output<typeof testDocument>
export type TestCase = TestDocument['tests'][number]

/** Reads and validates a test file; problems are PipelineFileError lines (`file:line:col: message`, exit 2). */
export async function loadTestFile(path: string): Promise<TestDocument> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new PipelineFileError(path, [{ message: `cannot read: ${(error as Error).message}` }])
  }
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const map = new SourceMap(text, doc, lines)
  const syntax = doc.errors[0]
  if (syntax) {
    const problem: FileProblem = {
      ...map.offset(syntax.pos[0]),
      message: `invalid YAML: ${syntax.message.split('\n')[0]}`,
    }
    throw new PipelineFileError(path, [problem])
  }
  const parsed = testDocument.safeParse(doc.toJS({ maxAliasCount: 100 }), { reportInput: true })
  if (!parsed.success) throw new PipelineFileError(path, documentProblems(parsed.error.issues, map))
  return parsed.data
}
