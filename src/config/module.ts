import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Pipeline } from '../dsl/stream.ts'
import { UsageError } from '../errors.ts'

/** What a pipeline module's factory function is given. */
export interface PipelineModuleContext {
  /** The --brokers flag (else undefined: connectors fall back to $KAFKA_BROKERS). */
  readonly brokers: readonly string[] | undefined
}

/**
 * Loads the pipelines a TypeScript or JavaScript module defines (Node 24 runs TypeScript by stripping types).
 * The module's default export, or else its export named `pipeline`, is a Pipeline, an array of them, or a
 * function (sync or async) returning either, called with the CLI's context; a module with neither but exactly
 * one exported Pipeline runs that one. `import.meta.main` is false
 * in the module, so a module that also runs itself when started directly does not do so here.
 */
export async function loadPipelineModule(
  path: string,
  context: PipelineModuleContext = { brokers: undefined },
): Promise<Pipeline<unknown>[]> {
  let module: Record<string, unknown>
  try {
    module = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ERR_MODULE_NOT_FOUND' && (error as Error).message.includes(resolve(path)))
      throw new UsageError(`${path}: no such file`)
    throw new UsageError(`${path}: the module failed to load: ${(error as Error).message}`, error)
  }
  const exported =
    'default' in module ? module.default : 'pipeline' in module ? module.pipeline : single(module, path)
  const value =
    typeof exported === 'function'
      ? await (exported as (c: PipelineModuleContext) => unknown)(context)
      : exported
  const list = Array.isArray(value) ? value : [value]
  if (list.length === 0) throw new UsageError(`${path}: the exported list of pipelines is empty.`)
  for (const item of list) {
    if (!isPipeline(item)) {
      throw new UsageError(
        `${path}: the export is not a pipeline (a Pipeline from pipeline(id)…to(sink), a list of them, or a function returning one); got ${describe(item)}.`,
      )
    }
  }
  const ids = new Set<string>()
  for (const p of list as Pipeline<unknown>[]) {
    if (ids.has(p.plan.pipelineId))
      throw new UsageError(`${path}: two pipelines have the id "${p.plan.pipelineId}".`)
    ids.add(p.plan.pipelineId)
  }
  return list as Pipeline<unknown>[]
}

/** Without a default or `pipeline` export, a module exporting exactly one Pipeline means that one. */
function single(module: Record<string, unknown>, path: string): Pipeline<unknown> {
  const pipelines = Object.entries(module).filter(([, v]) => isPipeline(v))
  if (pipelines.length === 1) return pipelines[0]![1] as Pipeline<unknown>
  const names = Object.keys(module)
  throw new UsageError(
    pipelines.length > 1
      ? `${path}: exports several pipelines (${pipelines.map(([n]) => n).join(', ')}): export the one(s) to run as the default export or as "pipeline".`
      : `${path}: export the pipeline as the default export or as "pipeline" (found exports: ${names.join(', ') || 'none'}).`,
  )
}

/** A Pipeline, also one built by another copy of the library (a module importing 'sluice' from elsewhere). */
function isPipeline(value: unknown): value is Pipeline<unknown> {
  if (value instanceof Pipeline) return true
  const plan = (value as { plan?: { pipelineId?: unknown; nodes?: unknown } } | null)?.plan
  return typeof plan?.pipelineId === 'string' && Array.isArray(plan.nodes)
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`
  return typeof value
}
