/**
 * Output that survives its reader going away. `sluice start | tee log` and a Ctrl-C: the terminal signals the
 * whole process group, tee exits at once, and every later write to stdout fails with EPIPE, which Node throws as
 * an uncaught error (a stack trace, and the summary lost). Here a stream whose reader is gone is marked broken
 * instead, and what was meant for it goes to the other one when that one still has a reader.
 */
const broken = new Set<NodeJS.WriteStream>()

function onError(stream: NodeJS.WriteStream) {
  return (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
    broken.add(stream)
  }
}

/** From now on, EPIPE on stdout or stderr marks the stream broken rather than crashing the process. */
export function tolerateClosedReaders(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') === 0) stream.on('error', onError(stream))
  }
}

/** Writes `text` and resolves to whether it was written (false when the reader has gone). */
function write(stream: NodeJS.WriteStream, text: string): Promise<boolean> {
  if (broken.has(stream)) return Promise.resolve(false)
  return new Promise((resolve) => {
    stream.write(text, (error) => {
      if (error) broken.add(stream)
      resolve(!error)
    })
  })
}

/** A line on stderr, dropped quietly when nobody reads it any more. */
export function say(line: string): void {
  if (!broken.has(process.stderr)) process.stderr.write(`${line}\n`)
}

/** Writes `text` to stdout, or to stderr when stdout's reader has gone; resolves to where it went. */
export async function writeResult(text: string): Promise<'stdout' | 'stderr' | 'nowhere'> {
  if (await write(process.stdout, text)) return 'stdout'
  if (await write(process.stderr, text)) return 'stderr'
  return 'nowhere'
}
