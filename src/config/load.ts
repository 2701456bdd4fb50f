import { readFile } from 'node:fs/promises'
import { LineCounter, parseDocument } from 'yaml'
import type { Pipeline } from '../dsl/stream.ts'
import { type CompileOverrides, DocumentCompiler } from './compile.ts'
import { pipelineDocument } from './document.ts'
import { substituteEnvironment } from './environment.ts'
import { type FileProblem, PipelineFileError } from './errors.ts'
import { documentProblems } from './issues.ts'
import { SourceMap } from './source-map.ts'

export interface PipelineFileOptions {
  /** Kafka brokers; win over the file's `brokers` (default $KAFKA_BROKERS). */
  readonly brokers?: readonly string[] | string
  /** Replace the file's source or sink (tests, previews). */
  readonly overrides?: CompileOverrides
  /** Variables for `${NAME}` in the file; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

/**
 * Loads a YAML pipeline file: parses it, validates it against the document schema, compiles its expressions
 * and builds the pipeline. Nothing is started or connected. Any problem throws a PipelineFileError whose
 * message names the file, line and column of each.
 */
export async function loadPipelineFile(
  path: string,
  options: PipelineFileOptions = {},
): Promise<Pipeline<unknown>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const message =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory, not a pipeline file'
          : `cannot read: ${(error as Error).message}`
    throw new PipelineFileError(path, [{ message }])
  }
  return parsePipelineYaml(text, { ...options, file: path })
}

/** Like loadPipelineFile, for YAML text; `file` names it in errors and anchors relative paths. */
export async function parsePipelineYaml(
  text: string,
  options: PipelineFileOptions & { readonly file: string },
): Promise<Pipeline<unknown>> {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const map = new SourceMap(text, doc, lines)
  // The first syntax error only: the ones after it are usually its echoes.
  const syntax = doc.errors[0]
  if (syntax) {
    throw new PipelineFileError(options.file, [
      { ...map.offset(syntax.pos[0]), message: yamlMessage(syntax.message) },
    ])
  }
  const problems: FileProblem[] = []
  const value = substituteEnvironment(
    doc.toJS({ maxAliasCount: 100 }),
    options.env ?? process.env,
    map,
    problems,
  )
  if (problems.length > 0) throw new PipelineFileError(options.file, problems)
  const parsed = pipelineDocument.safeParse(value, { reportInput: true })
  if (!parsed.success) throw new PipelineFileError(options.file, documentProblems(parsed.error.issues, map))
  const compiler = new DocumentCompiler(parsed.data, {
    file: options.file,
    map,
    ...(options.brokers === undefined ? {} : { brokers: options.brokers }),
    ...(options.overrides === undefined ? {} : { overrides: options.overrides }),
  })
  const pipeline = await compiler.compile(parsed.data)
  if (!pipeline) throw new PipelineFileError(options.file, compiler.problems)
  return pipeline
}

/** The YAML library's message without its own position and source excerpt (we give the position first). */
function yamlMessage(message: string): string {
  const first = message.split('\n')[0] ?? message
  return `invalid YAML: ${first.replace(/ at line \d+, column \d+:?$/, '').replace(/:$/, '')}`
}
