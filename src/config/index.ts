import { extname } from 'node:path'
import type { Pipeline } from '../dsl/stream.ts'
import { UsageError } from '../errors.ts'
import { loadPipelineFile, type PipelineFileOptions } from './load.ts'
import { loadPipelineModule } from './module.ts'

/** Pipeline files: YAML definitions (see README.md beside this file) and TypeScript modules. */
export type { CompileOverrides } from './compile.ts'
export type { PipelineDocument } from './document.ts'
export { type FileProblem, formatProblem, PipelineFileError } from './errors.ts'
export { type CompiledExpression, compileExpression, ExpressionCompileError } from './expression.ts'
export { loadPipelineFile, type PipelineFileOptions, parsePipelineYaml } from './load.ts'
export { loadPipelineModule, type PipelineModuleContext } from './module.ts'

const YAML = new Set(['.yaml', '.yml', '.json'])
const MODULE = new Set(['.ts', '.mts', '.js', '.mjs'])

/**
 * The pipelines a file defines: a YAML file (`.yaml`, `.yml`, or `.json`, which is YAML too) holds one; a
 * module (`.ts`, `.mts`, `.js`, `.mjs`) exports one or more. Nothing is started.
 */
export async function loadPipelines(
  path: string,
  options: PipelineFileOptions = {},
): Promise<Pipeline<unknown>[]> {
  const extension = extname(path).toLowerCase()
  if (YAML.has(extension)) return [await loadPipelineFile(path, options)]
  if (MODULE.has(extension)) {
    const brokers = typeof options.brokers === 'string' ? options.brokers.split(',') : options.brokers
    return loadPipelineModule(path, { brokers: brokers?.map((b) => b.trim()).filter(Boolean) })
  }
  throw new UsageError(
    `${path}: expected a YAML pipeline file (.yaml, .yml) or a TypeScript/JavaScript module (.ts, .mts, .js, .mjs).`,
  )
}
