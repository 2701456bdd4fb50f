import { resolve } from 'node:path'
import type { z } from 'zod'
import { isJsonSchemaParser } from '../dsl/parse.ts'
import { type Pipeline, type PipelineOptions, pipeline, type Stream } from '../dsl/stream.ts'
import { UsageError } from '../errors.ts'
import type { RecordLimits } from '../plan/record-limits.ts'
import { isRegistryParser, registry } from '../registry/registry-parser.ts'
import type { SinkSpec } from '../runtime/sink.ts'
import type { SourceSpec } from '../runtime/source.ts'
import { hopping, session, tumbling, type WindowSpec } from '../window/index.ts'
import {
  type AggregateField,
  type AggregateInput,
  buildAggregator,
  evaluateInput,
  inputExpression,
} from './aggregates.ts'
import { buildSink, buildSource, buildTable, type ConnectorContext, fileSecurity } from './connectors.ts'
import type { PipelineDocument, ProcessDocument, StepDocument, WindowDocument } from './document.ts'
import type { FileProblem } from './errors.ts'
import {
  type CompiledExpression,
  compileExpression,
  ExpressionCompileError,
  type Scope,
  UnknownFieldsError,
} from './expression.ts'
import { type KnownVariable, noSuchField } from './field-references.ts'
import { holdsInt, processFunctions } from './process.ts'
import { anyShape } from './record-shape.ts'
import { builtinSchemas, jsonOnly, jsonSchemaFile, type RecordSchema, SchemaFileError } from './schemas.ts'
import type { DocumentPath, SourceMap } from './source-map.ts'
import { lacksField, recordsAfter } from './step-shapes.ts'

/** Replaces the file's source or sink: tests run a file over their own input into a memory sink. */
export interface CompileOverrides {
  readonly source?: SourceSpec
  readonly sink?: SinkSpec<unknown>
}

export interface CompileContext {
  /** The file's name in messages. */
  readonly file: string
  readonly map: SourceMap
  /** The --brokers flag, which wins over the file's `brokers`. */
  readonly brokers?: readonly string[] | string
  readonly overrides?: CompileOverrides
}

type AnyStream = Stream<unknown>

/** The file's `recordLimits`, without the fields it left out (exactOptionalPropertyTypes). */
function withLimits(given: PipelineDocument['recordLimits']): PipelineOptions {
  if (!given) return {}
  return {
    recordLimits: Object.fromEntries(
      Object.entries(given).filter(([, v]) => v !== undefined),
    ) as Partial<RecordLimits>,
  }
}

/** The file's records have no static type: every step's stream is a Stream<unknown>. */
function erase<T>(stream: Stream<T>): AnyStream {
  return stream as unknown as AnyStream
}

/**
 * Builds the DSL pipeline a validated document describes. Every expression is compiled here, so a file with a
 * bad one is refused before anything runs; all problems are collected, each with its place in the file.
 */
export class DocumentCompiler {
  readonly problems: FileProblem[] = []
  readonly #context: CompileContext
  readonly #connectors: ConnectorContext
  /** What is known of the records at the step being compiled: `event` in its expressions. */
  #records: KnownVariable = { shape: { kind: 'any' }, origin: '' }

  constructor(doc: PipelineDocument, context: CompileContext) {
    this.#context = context
    this.#connectors = {
      brokers: context.brokers ?? doc.brokers,
      security: this.#guard(['security'], () => fileSecurity(doc.security)),
    }
  }

  async compile(doc: PipelineDocument): Promise<Pipeline<unknown> | undefined> {
    const schema = await this.#schema(doc)
    this.#records = { shape: schema.shape, origin: `in schema ${schema.name}` }
    const source = this.#guard(
      ['source'],
      () => this.#context.overrides?.source ?? buildSource(doc.source, this.#connectors),
    )
    // A broken source still lets the steps compile, so that all the file's problems are reported at once.
    const start = pipeline(doc.pipeline, withLimits(doc.recordLimits)).from(source ?? unusable)
    const options = { schemaName: schema.name }
    let stream: AnyStream = erase(
      isJsonSchemaParser(schema.schema)
        ? start.parse(schema.schema, options)
        : isRegistryParser(schema.schema)
          ? start.parse(schema.schema, options)
          : start.parse(schema.schema as z.ZodType, options),
    )
    const w = doc.watermark
    if (w) {
      this.#checkField(['watermark', 'field'], w.field)
      stream = stream.withWatermark(w.field as never, w.delay, {
        ...(w.idleTimeout === undefined ? {} : { idleTimeout: w.idleTimeout }),
        ...(w.late === undefined ? {} : { late: w.late }),
      })
    }
    const steps = doc.steps ?? []
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!
      const path = ['steps', i, step.kind]
      const keyedProcess = step.kind === 'keyBy' && steps[i + 1]?.kind === 'process'
      const next =
        step.kind !== 'keyBy'
          ? this.#named(
              this.#guard(path, () => this.#step(stream, step, path)),
              step,
              i,
            )
          : keyedProcess
            ? this.#process(stream, steps, i)
            : this.#grouped(stream, steps, i)
      if (step.kind === 'select')
        for (const [k, name] of step.value.entries()) this.#checkField([...path, k], name)
      this.#records = recordsAfter(steps, i, this.#records)
      // keyBy takes the steps after it: process, or window and aggregate.
      if (step.kind === 'keyBy') i += keyedProcess ? 1 : 2
      // After a failed step the next ones build on the stream before it: their problems are still found.
      if (next) stream = next
    }
    const result = this.#guard(['sink'], () =>
      stream.to(this.#context.overrides?.sink ?? buildSink(doc.sink, this.#connectors)),
    )
    return this.problems.length === 0 ? result : undefined
  }

  async #schema(doc: PipelineDocument): Promise<RecordSchema> {
    const schema = doc.schema
    if (schema === undefined) return jsonOnly
    if (typeof schema === 'string') return builtinSchemas[schema]!
    if ('registry' in schema) {
      const options = typeof schema.registry === 'string' ? { url: schema.registry } : schema.registry
      const parser = this.#guard(['schema', 'registry'], () => registry(options))
      // The registry's schemas are known only as records arrive: field references are not checked.
      return parser ? { name: parser.name, schema: parser, shape: anyShape } : jsonOnly
    }
    const path = resolve(schema.jsonSchema)
    try {
      return await jsonSchemaFile(path, schema.jsonSchema)
    } catch (error) {
      if (!(error instanceof SchemaFileError)) throw error
      this.#problem(['schema', 'jsonSchema'], error.message)
      return jsonOnly
    }
  }

  /** Names a built step after its `name:` (or `id:`); a name the DSL refuses is a problem at that key. */
  #named(built: AnyStream | undefined, step: StepDocument, i: number): AnyStream | undefined {
    const name = stepName(step)
    if (!built || name === undefined) return built
    return this.#guard(['steps', i, step.name === undefined ? 'id' : 'name'], () => built.name(name))
  }

  #step(stream: AnyStream, step: StepDocument, path: DocumentPath): AnyStream | undefined {
    switch (step.kind) {
      case 'filter': {
        const e = this.#expression([...path], step.value, 'event', ['bool'])
        return e && stream.filter((v) => isTrue(e.evaluate(v), e))
      }
      case 'map': {
        if (typeof step.value === 'string') {
          const e = this.#expression([...path], step.value)
          return e && stream.map((v) => e.evaluate(v))
        }
        const build = this.#record([...path], step.value, 'event')
        return build && erase(stream.map((v) => build(v, undefined)))
      }
      case 'withField': {
        const e = this.#expression([...path, 'expr'], step.value.expr)
        return e && erase(stream.withField(step.value.name, (v) => e.evaluate(v)))
      }
      case 'select':
        return erase(stream.map(selectFields(step.value)))
      case 'flatMap': {
        const e = this.#expression([...path], step.value, 'event', ['list'])
        return e && stream.flatMap((v) => asList(e.evaluate(v), e))
      }
      case 'dedupe': {
        const e = this.#expression([...path, 'key'], step.value.key)
        return (
          e &&
          stream.dedupe(
            (v) => e.evaluate(v),
            step.value.within,
            step.partitioned ? { partitioned: true } : undefined,
          )
        )
      }
      case 'join':
        return this.#join(stream, step.value, path)
      case 'keyBy':
      case 'window':
      case 'aggregate':
      case 'process':
        this.#problem(path, OUT_OF_PLACE[step.kind])
        return undefined
    }
  }

  #join(
    stream: AnyStream,
    join: Extract<StepDocument, { kind: 'join' }>['value'],
    path: DocumentPath,
  ): AnyStream | undefined {
    const on = this.#expression([...path, 'on'], join.on)
    const table = buildTable(join.table, this.#connectors)
    let select: ((v: unknown, row: unknown) => unknown) | undefined
    if (join.as !== undefined) {
      const as = join.as
      select = (v, row) => ({ ...asRecord(v, 'join'), [as]: row ?? null })
    } else if (join.fields) {
      const build = this.#record([...path, 'fields'], join.fields, 'join')
      select = build && ((v, row) => ({ ...asRecord(v, 'join'), ...build(v, row ?? null) }))
    }
    if (!on || !select) return undefined
    const options = { how: join.how ?? 'inner' } as { how: 'left' }
    return stream.join(table, (v) => joinKey(on.evaluate(v), on), select, options)
  }

  /** keyBy, window and aggregate: one unit, with the key and the aggregate inputs evaluated in front of it. */
  #grouped(stream: AnyStream, steps: readonly StepDocument[], i: number): AnyStream | undefined {
    const keyBy = steps[i] as Extract<StepDocument, { kind: 'keyBy' }>
    const window = steps[i + 1]
    const aggregate = steps[i + 2]
    if (window?.kind !== 'window') {
      this.#problem(
        ['steps', i, 'keyBy'],
        'keyBy must be followed by a window step (keyBy, window, aggregate) or by a process step',
      )
      return undefined
    }
    if (aggregate?.kind !== 'aggregate') {
      this.#problem(['steps', i + 1, 'window'], 'window must be followed by an aggregate step')
      return undefined
    }
    const key = this.#expression(['steps', i, 'keyBy'], keyBy.value)
    const fields: AggregateField[] = []
    for (const [name, fn] of Object.entries(aggregate.value.fields)) {
      const input = inputExpression(fn)
      const compiled =
        input && this.#expression(['steps', i + 2, 'aggregate', 'fields', name, ...input.path], input.text)
      if (input && !compiled) continue
      fields.push({ name, fn, input: compiled })
    }
    const spec = this.#guard(['steps', i + 1, 'window'], () => windowSpec(window.value))
    // window and aggregate are one step of the plan: either may name it.
    const keyName = stepName(keyBy)
    const windowName = stepName(aggregate) ?? stepName(window)
    if (stepName(window) !== undefined && stepName(aggregate) !== undefined)
      this.#problem(
        ['steps', i + 2],
        'window and aggregate are one step: name the window or the aggregate, not both',
      )
    if (!key || !spec || fields.length !== Object.keys(aggregate.value.fields).length) return undefined
    return this.#guard(['steps', i, 'keyBy'], () =>
      erase(
        stream
          .map(
            (v): AggregateInput => ({ key: key.evaluate(v), inputs: fields.map((f) => evaluateInput(f, v)) }),
            keyName === undefined ? undefined : { name: `${keyName}-inputs` },
          )
          .keyBy((v) => (v as AggregateInput).key as string, {
            ...(keyName === undefined ? {} : { name: keyName }),
            ...(keyBy.partitioned ? { partitioned: true } : {}),
          })
          .window(spec)
          .aggregate(buildAggregator(fields), {
            ...(windowName === undefined ? {} : { name: windowName }),
            ...(aggregate.value.outputMode === undefined ? {} : { outputMode: aggregate.value.outputMode }),
          }),
      ),
    )
  }

  /** keyBy and process: per key, a state that each record updates (next) and may emit records from (emit). */
  #process(stream: AnyStream, steps: readonly StepDocument[], i: number): AnyStream | undefined {
    const keyBy = steps[i] as Extract<StepDocument, { kind: 'keyBy' }>
    const step = steps[i + 1] as Extract<StepDocument, { kind: 'process' }>
    const path = ['steps', i + 1, 'process']
    const key = this.#expression(['steps', i, 'keyBy'], keyBy.value)
    const init = this.#stateExpression([...path, 'init'], step.value, 'init')
    const next = this.#stateExpression([...path, 'next'], step.value, 'next')
    const emit = this.#expression([...path, 'emit'], step.value.emit, 'emit', ['list'])
    if (!key || !init || !next || !emit) return undefined
    const fns = processFunctions({ init, next, emit })
    const ttl = step.value.ttl
    const keyName = stepName(keyBy)
    const processName = stepName(step)
    return this.#guard(path, () =>
      erase(
        stream
          .keyBy((v) => key.evaluate(v) as string, {
            ...(keyName === undefined ? {} : { name: keyName }),
            ...(keyBy.partitioned ? { partitioned: true } : {}),
          })
          .process({
            ...fns,
            ...(processName === undefined ? {} : { name: processName }),
            ...(ttl === undefined ? {} : { ttl }),
          }),
      ),
    )
  }

  /** init or next: their value becomes the state, kept as JSON, where an int would come back a double. */
  #stateExpression(
    path: DocumentPath,
    process: ProcessDocument,
    field: 'init' | 'next',
  ): CompiledExpression | undefined {
    const e = this.#expression(path, process[field], field)
    if (e && holdsInt(e.type)) {
      this.#problem(
        path,
        `${field} gives a value of type ${e.type}, but the state is kept as JSON, whose numbers are doubles: write 1.0 rather than 1, double(size(x)) rather than size(x)`,
      )
      return undefined
    }
    return e
  }

  /** Builds an object from named expressions (a map step's fields, a join's fields). */
  #record(
    path: DocumentPath,
    exprs: Readonly<Record<string, string>>,
    scope: Scope,
  ): ((v: unknown, row: unknown) => Record<string, unknown>) | undefined {
    const names = Object.keys(exprs)
    const compiled = names.map((name) => this.#expression([...path, name], exprs[name]!, scope))
    if (compiled.some((e) => !e)) return undefined
    const list = compiled as CompiledExpression[]
    return (v, row) => {
      const out: Record<string, unknown> = {}
      for (let k = 0; k < names.length; k++) out[names[k]!] = list[k]!.evaluate(v, row)
      return out
    }
  }

  #expression(
    path: DocumentPath,
    text: string,
    scope: Scope = 'event',
    types?: readonly string[],
  ): CompiledExpression | undefined {
    try {
      // The records' fields are checked where the expression sees them as `event` (not in a process's init).
      const known = scope === 'init' ? undefined : { event: this.#records }
      const e = compileExpression(text, scope, known)
      if (types && e.type !== 'dyn' && !types.some((t) => e.type === t || e.type.startsWith(`${t}<`))) {
        this.#problem(path, `expected a ${types.join(' or ')} expression, got one of type ${e.type}: ${text}`)
        return undefined
      }
      return e
    } catch (error) {
      if (error instanceof UnknownFieldsError) {
        for (const p of error.problems)
          this.problems.push({ ...this.#context.map.inString(path, p.offset), message: p.message })
        return undefined
      }
      if (!(error instanceof ExpressionCompileError)) throw error
      const at = this.#context.map.inString(path, error.offset)
      this.problems.push({ ...at, message: `${error.message} in expression ${JSON.stringify(text)}` })
      return undefined
    }
  }

  /** Runs a DSL call; a UsageError (a bad window offset, duplicate step ids, …) becomes a problem at `path`. */
  #guard<T>(path: DocumentPath, build: () => T): T | undefined {
    try {
      return build()
    } catch (error) {
      if (!(error instanceof UsageError)) throw error
      this.#problem(path, error.message)
      return undefined
    }
  }

  /** A top-level field the file names (a select's, the watermark's): one the records cannot have is a problem. */
  #checkField(path: DocumentPath, name: string): void {
    const shape = this.#records.shape
    if (shape.kind === 'object' && lacksField(shape, name))
      this.#problem(path, noSuchField('the record', name, [...shape.fields.keys()], this.#records.origin))
  }

  #problem(path: DocumentPath, message: string): void {
    this.problems.push({ ...this.#context.map.value(path), message })
  }
}

/** The step's `name:`, or `id:`, its earlier spelling. */
function stepName(step: StepDocument): string | undefined {
  return step.name ?? step.id
}

const OUT_OF_PLACE = {
  keyBy: 'internal: keyBy is compiled with the steps after it',
  window: 'window must come right after keyBy (keyBy, window, aggregate)',
  aggregate: 'aggregate must come right after window (keyBy, window, aggregate)',
  process: 'process must come right after keyBy (keyBy, process)',
} as const

/** Stands in for a source that could not be built; never runs, since the file is refused. */
const unusable: SourceSpec = {
  type: 'unusable',
  options: {},
  create() {
    throw new Error('internal: a pipeline file with problems was run')
  },
}

function windowSpec(window: WindowDocument): WindowSpec {
  switch (window.kind) {
    case 'tumbling':
      return typeof window.value === 'object'
        ? tumbling(
            window.value.size,
            window.value.offset === undefined ? {} : { offset: window.value.offset },
          )
        : tumbling(window.value)
    case 'hopping':
      return hopping(
        window.value.size,
        window.value.slide,
        window.value.offset === undefined ? {} : { offset: window.value.offset },
      )
    case 'session':
      return session(typeof window.value === 'object' ? window.value.gap : window.value)
  }
}

function isTrue(value: unknown, e: CompiledExpression): boolean {
  if (typeof value !== 'boolean')
    throw new Error(`filter ${JSON.stringify(e.source)} gave ${JSON.stringify(value)}, not true or false`)
  return value
}

function asList(value: unknown, e: CompiledExpression): unknown[] {
  if (!Array.isArray(value))
    throw new Error(`flatMap ${JSON.stringify(e.source)} gave ${JSON.stringify(value)}, not a list`)
  return value
}

function asRecord(value: unknown, step: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Error(`${step} needs records that are objects, got ${JSON.stringify(value)}`)
  return value as Record<string, unknown>
}

function joinKey(value: unknown, e: CompiledExpression): string | number | null | undefined {
  if (value === null || value === undefined || typeof value === 'string' || typeof value === 'number')
    return value
  throw new Error(
    `join key ${JSON.stringify(e.source)} gave ${JSON.stringify(value)}, not a string or number`,
  )
}

function selectFields(names: readonly string[]): (v: unknown) => Record<string, unknown> {
  return (v) => {
    const record = asRecord(v, 'select')
    const out: Record<string, unknown> = {}
    for (const name of names) out[name] = record[name]
    return out
  }
}
