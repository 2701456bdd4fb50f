import { formatProblem, loadPipelines, PipelineFileError } from '../config/index.ts'
import { SluiceError } from '../errors.ts'

/**
 * Loads and plans the file as `sluice run` does before it starts anything: YAML syntax, `${VAR}`, the document
 * schema, every expression (parsed, type-checked, and the fields it reads checked against a declared schema),
 * the DSL's checks of the plan; for a module, importing it and building its pipelines. Prints each problem as
 * `file:line:col: message` (or `file: message` when it has no place) and fails with exit 2, or prints one OK line.
 */
export async function lintFile(file: string, out: { write(text: string): unknown }): Promise<void> {
  let ids: string[]
  try {
    ids = (await loadPipelines(file)).map((p) => p.plan.pipelineId)
  } catch (error) {
    if (!(error instanceof SluiceError) || error.domain !== 'user') throw error
    const lines =
      error instanceof PipelineFileError
        ? error.problems.map((p) => formatProblem(error.file, p))
        : [`${file}: ${error.message}`]
    out.write(`${lines.join('\n')}\n`)
    throw new SluiceError('SLUICE_LINT', `${file}: ${lines.length} problem${lines.length === 1 ? '' : 's'}`, {
      domain: 'user',
      exitCode: 2,
      cause: error,
    })
  }
  out.write(`${file}: OK (${ids.length === 1 ? `pipeline ${ids[0]}` : `pipelines ${ids.join(', ')}`})\n`)
}
