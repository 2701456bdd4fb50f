import { AT_LEAST_ONCE, type SinkSpec, type SinkWriter } from '../../runtime/sink.ts'

export interface ConsoleSinkOptions {
  /** Default process.stdout; dead letters go to process.stderr. */
  readonly out?: NodeJS.WritableStream
  readonly err?: NodeJS.WritableStream
}

/** Prints each row as one JSON line and each dead letter with its reason. At-least-once. */
export function console<T = unknown>(options: ConsoleSinkOptions = {}): SinkSpec<T> {
  const out = options.out ?? process.stdout
  const err = options.err ?? process.stderr
  const writer: SinkWriter<T> = {
    description: 'console',
    async open() {
      return AT_LEAST_ONCE
    },
    async write(batch) {
      const lines = batch.rows.map((row) => JSON.stringify(row))
      if (lines.length) out.write(`${lines.join('\n')}\n`)
      for (const d of batch.deadLetters)
        err.write(`dead letter (${d.operator}) ${d.partition}@${d.offset}: ${d.reason}\n`)
    },
    async commit() {},
    async close() {},
  }
  return { type: 'console', options: {}, create: () => writer }
}
