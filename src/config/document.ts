import { z } from 'zod'
import { MAX_DEPTH_CEILING } from '../plan/record-limits.ts'
import { brokers, security, sink, source, table, watermark } from './document-connectors.ts'
import { duration, expression, fieldName, fields, oneOf } from './schema-helpers.ts'

/**
 * The pipeline file's shape: one Zod schema that validates the YAML, types the compiler's input, and is the
 * reference src/config/README.md documents. Expressions are strings here; they are compiled (and so
 * checked) when the document is turned into a pipeline, where their place in the file is still known.
 */

/** Built-in schemas by name, for `schema: clickstream-event`. */
export const BUILTIN_SCHEMAS = ['clickstream-event'] as const

/** `schema: { registry: URL }` or `{ registry: { url, subject?, username?, password? } }`: the Confluent wire format. */
const registrySchema = z.union([
  z.string().min(1),
  fields('schema.registry', {
    url: z.string().min(1),
    subject: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
  }),
])

const schema = z.union(
  [
    z.enum(BUILTIN_SCHEMAS),
    fields('schema', { jsonSchema: z.string().min(1) }),
    fields('schema', { registry: registrySchema }),
  ],
  {
    error: `expected a built-in schema (${BUILTIN_SCHEMAS.join(', ')}), { jsonSchema: path } or { registry: url }`,
  },
)

/** An aggregate function: `count`, or `{ sum: "expr" }`, `{ approxCountDistinct: { expr, precision } }`, … */
const withExpr = <S extends z.ZodRawShape>(what: string, shape: S) =>
  z.union([expression, fields(what, { expr: expression, ...shape })], {
    error: `expected an expression or { expr, ... } for ${what}`,
  })

const aggregateFunction = z.union(
  [
    z.literal('count'),
    oneOf('aggregate function', {
      count: z.union([z.null(), fields('count', {})], { error: 'count takes no argument: write count' }),
      sum: expression,
      avg: expression,
      min: expression,
      max: expression,
      countDistinct: expression,
      approxCountDistinct: withExpr('approxCountDistinct', {
        precision: z.number().int().min(4).max(18).optional(),
      }),
      first: expression,
      last: expression,
      collect: withExpr('collect', { max: z.number().int().positive().optional() }),
    }),
  ],
  { error: 'expected an aggregate function: count, or a mapping such as { sum: "expr" }' },
)

const window = oneOf('window', {
  tumbling: z.union([
    duration('tumbling window size'),
    fields('tumbling', { size: duration('size'), offset: duration('offset').optional() }),
  ]),
  hopping: fields('hopping', {
    size: duration('hopping window size'),
    slide: duration('hopping window slide'),
    offset: duration('offset').optional(),
  }),
  session: z.union([duration('session gap'), fields('session', { gap: duration('session gap') })]),
})

/** A keyed process step's expressions; `init: null` unquoted is YAML's null, so the message shows quotes. */
const processExpression = (what: string, example: string) =>
  z
    .string({ error: `expected ${what} as an expression in a string, e.g. ${example}` })
    .min(1, { error: 'an empty expression' })

const keyedProcess = fields('process', {
  init: processExpression('the state of a new key', 'init: "null" or init: "[]"'),
  next: processExpression("the key's next state", 'next: "state + [event.price]"'),
  emit: processExpression('the records to emit', 'emit: "[]" or emit: "[event]"'),
  ttl: duration('process ttl').optional(),
})

export const STEP_KINDS = [
  'filter',
  'map',
  'withField',
  'select',
  'flatMap',
  'dedupe',
  'join',
  'keyBy',
  'window',
  'aggregate',
  'process',
] as const

/** A step's name (`name:`), the DSL's `.name()`: its id in checkpoints, on the dashboard, in metrics and errors. */
const stepName = z
  .string({ error: 'expected a step name (letters, digits, ".", "_" and "-")' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
    error:
      'a step name uses letters, digits, ".", "_" and "-", starting with a letter or digit (it names state and topics)',
  })

const step = oneOf(
  'step',
  {
    filter: expression,
    map: z.union([expression, z.record(fieldName, expression)], {
      error: 'expected an expression, or a mapping of field names to expressions',
    }),
    withField: fields('withField', { name: fieldName, expr: expression }),
    select: z.array(fieldName, { error: 'expected a list of field names' }).min(1),
    flatMap: expression,
    dedupe: fields('dedupe', { key: expression, within: duration('dedupe window') }),
    join: fields('join', {
      table,
      on: expression,
      as: fieldName.optional(),
      fields: z.record(fieldName, expression).optional(),
      how: z.enum(['inner', 'left']).optional(),
    }).refine((j) => (j.as === undefined) !== (j.fields === undefined), {
      error: 'a join needs either as (the row under one field) or fields (expressions over event and row)',
    }),
    keyBy: expression,
    window,
    aggregate: fields('aggregate', {
      outputMode: z.enum(['append', 'update', 'complete']).optional(),
      fields: z.record(fieldName, aggregateFunction).refine((f) => Object.keys(f).length > 0, {
        error: 'give at least one aggregate field',
      }),
    }),
    process: keyedProcess,
  },
  // `id` is the earlier spelling of `name`, still read. `partitioned` (keyBy, dedupe): equal keys always
  // come from one input partition, so the keyed state scales out with the partitions.
  {
    name: stepName.optional(),
    id: stepName.optional(),
    partitioned: z.boolean({ error: 'expected partitioned: true or false' }).optional(),
  },
).superRefine((value, ctx) => {
  if (value.name !== undefined && value.id !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['id'],
      message: 'give the step one name: name (id is its older spelling)',
    })
  if (value.partitioned !== undefined && value.kind !== 'keyBy' && value.kind !== 'dedupe')
    ctx.addIssue({
      code: 'custom',
      path: ['partitioned'],
      message:
        'partitioned belongs to keyBy and dedupe: it declares that equal keys always come from one input partition',
    })
})

/** `recordLimits:`, the DSL's pipeline(id, { recordLimits }); each field optional, the defaults otherwise. */
const recordLimits = fields('recordLimits', {
  maxBytes: z.number().int().positive().optional(),
  maxDepth: z.number().int().positive().max(MAX_DEPTH_CEILING).optional(),
  maxFields: z.number().int().positive().optional(),
})

export const pipelineDocument = fields('pipeline file', {
  pipeline: z
    .string({ error: 'expected the pipeline id (letters, digits, ".", "_" and "-")' })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
      error: 'a pipeline id uses letters, digits, ".", "_" and "-" (it names topics and folders)',
    }),
  description: z.string().optional(),
  brokers: brokers.optional(),
  security: security.optional(),
  source,
  schema: schema.optional(),
  recordLimits: recordLimits.optional(),
  watermark: watermark.optional(),
  steps: z.array(step, { error: 'expected a list of steps' }).optional(),
  sink,
})

export type PipelineDocument = z.output<typeof pipelineDocument>
export type StepDocument = z.output<typeof step>
export type AggregateFunctionDocument = z.output<typeof aggregateFunction>
export type WindowDocument = z.output<typeof window>
export type ProcessDocument = z.output<typeof keyedProcess>
export type SourceDocument = PipelineDocument['source']
export type SecurityDocument = NonNullable<PipelineDocument['security']>
export type SinkDocument = PipelineDocument['sink']
export type TableDocument = z.output<typeof table>
