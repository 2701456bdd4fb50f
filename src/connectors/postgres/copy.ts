import type pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'

/** A line could not be made (`lineAt` threw): the COPY was cancelled; `line` is 1-based, as the server's. */
export class RowEncodeError extends Error {
  readonly line: number

  constructor(line: number, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause })
    this.line = line
  }
}

/** Joins COPY lines into writes of about this many characters. */
const CHUNK_CHARS = 1 << 20

/**
 * Streams `count` lines (COPY text format, each ending in a newline; `lineAt(i)` is called as the data is
 * sent, so encoding overlaps with the server's work) into `COPY … FROM STDIN` and resolves when the server
 * has taken them all. On an error (a bad row, the connection gone) it stops writing and rejects with the
 * database's error; the client is ready for the next statement (a ROLLBACK TO SAVEPOINT). A line `lineAt`
 * cannot make cancels the COPY and rejects with a RowEncodeError naming it.
 */
export function copyIn(
  client: pg.ClientBase,
  sql: string,
  count: number,
  lineAt: (i: number) => string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = client.query(copyFrom(sql))
    let failed = false
    stream.on('error', (error: Error) => {
      if (failed) return
      failed = true
      // Stop the stream from flushing more data or a CopyDone onto the connection (the server dropped the
      // COPY already; pg-copy-streams would write to a connection it has let go of).
      stream.destroy()
      reject(error)
    })
    stream.on('finish', () => {
      if (!failed) resolve(stream.rowCount)
    })
    let i = 0
    const pump = () => {
      while (!failed) {
        if (i >= count) {
          stream.end()
          return
        }
        let chunk = ''
        try {
          while (i < count && chunk.length < CHUNK_CHARS) chunk += lineAt(i++)
        } catch (error) {
          // CopyFail to the server (destroy): the COPY ends with an error and the connection stays usable.
          failed = true
          const encodeError = new RowEncodeError(i, error)
          stream.once('error', () => reject(encodeError))
          stream.destroy(encodeError)
          return
        }
        if (!stream.write(chunk)) {
          stream.once('drain', pump)
          return
        }
      }
    }
    pump()
  })
}
