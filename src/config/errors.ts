import { SluiceError } from '../errors.ts'

/** One thing wrong with a pipeline file, at a 1-based line and column when it has a place in the file. */
export interface FileProblem {
  readonly line?: number
  readonly column?: number
  readonly message: string
}

/**
 * A pipeline file that cannot be loaded: unreadable, not YAML, not a valid pipeline, or an expression that does
 * not compile. The message has one `file:line:column: problem` line per problem, like a compiler's, and the
 * CLI exits with 2 before anything is started.
 */
export class PipelineFileError extends SluiceError {
  readonly file: string
  readonly problems: readonly FileProblem[]

  constructor(file: string, problems: readonly FileProblem[], cause?: unknown) {
    super('SLUICE_PIPELINE_FILE', problems.map((p) => formatProblem(file, p)).join('\n'), {
      domain: 'user',
      exitCode: 2,
      cause,
    })
    this.file = file
    this.problems = problems
  }

  /** Where the first problem is. */
  get line(): number | undefined {
    return this.problems[0]?.line
  }

  get column(): number | undefined {
    return this.problems[0]?.column
  }
}

export function formatProblem(file: string, problem: FileProblem): string {
  const at = problem.line === undefined ? '' : `:${problem.line}:${problem.column ?? 1}`
  return `${file}${at}: ${problem.message}`
}
