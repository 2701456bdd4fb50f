import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { KafkaTokenError, UsageError } from '../../errors.ts'

/** How long a token command may run before the authentication it serves fails. */
const COMMAND_TIMEOUT_MS = 30_000

/**
 * Where an OAUTHBEARER token comes from at each authentication: the client asks at the first connection and
 * again at every re-authentication (80 % of the session lifetime the broker grants), so a file an external
 * refresher rewrites, or a command that prints a fresh token, keeps a long run authenticated.
 */
export type TokenSource =
  | { readonly kind: 'literal'; readonly token: string }
  | { readonly kind: 'file'; readonly file: string }
  | { readonly kind: 'command'; readonly command: string }

/** A token file's content: the token, surrounding whitespace (a trailing newline) dropped. */
async function tokenFromFile(file: string): Promise<string> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    const reason = error instanceof Error && 'code' in error ? String(error.code) : 'unreadable'
    throw new KafkaTokenError(`cannot read the OAUTHBEARER token file ${file} (${reason})`, error)
  }
  const token = text.trim()
  if (token === '') throw new KafkaTokenError(`the OAUTHBEARER token file ${file} is empty`)
  return token
}

/** A token command's standard output, trimmed. Run by the shell, as Kafka users write such commands. */
function tokenFromCommand(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      '/bin/sh',
      ['-c', command],
      { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        // Only the command's stderr is quoted: its stdout is the token.
        const said = stderr.trim().split('\n').at(-1)?.slice(0, 300)
        if (error) {
          const how = error.killed
            ? `did not finish within ${COMMAND_TIMEOUT_MS / 1000} s`
            : `failed (exit ${error.code ?? 'unknown'})`
          // Not the exec error as cause: its message repeats the command, which may hold a client secret.
          reject(new KafkaTokenError(`the OAUTHBEARER token command ${how}${said ? `: ${said}` : ''}`))
          return
        }
        const token = stdout.trim()
        if (token === '')
          reject(new KafkaTokenError('the OAUTHBEARER token command printed nothing on its standard output'))
        else resolve(token)
      },
    )
  })
}

/** The client's `token` option: the literal itself, or a function it calls at each (re-)authentication. */
export function tokenProvider(source: TokenSource): string | (() => Promise<string>) {
  switch (source.kind) {
    case 'literal':
      return source.token
    case 'file':
      return () => tokenFromFile(source.file)
    case 'command':
      return () => tokenFromCommand(source.command)
  }
}

/** Checks now, at start, that a token file can be read (a typo is a usage problem, not a broker refusal). */
export function checkTokenFile(file: string): void {
  try {
    readFileSync(file)
  } catch (error) {
    const reason = error instanceof Error && 'code' in error ? String(error.code) : 'unreadable'
    throw new UsageError(`Cannot read the OAUTHBEARER token file ${file} (${reason}).`, error)
  }
}

/**
 * The client's `authBytesValidator` for OAUTHBEARER: a broker refusing a token answers the first message with a
 * JSON error (RFC 7628 §3.2.2) instead of failing it, and without this check the client took that answer for
 * success. The broker's status and scope are kept; the token is not in the answer.
 */
export function oauthbearerAnswerValidator(
  authBytes: Buffer,
  callback: (error: Error | null, authBytes?: Buffer) => void,
): void {
  if (authBytes.length === 0) {
    callback(null, authBytes)
    return
  }
  let status: string | undefined
  try {
    const answer = JSON.parse(authBytes.toString('utf8')) as { status?: unknown }
    status = typeof answer.status === 'string' ? answer.status : 'invalid_token'
  } catch {
    status = 'an answer that is not JSON'
  }
  callback(new KafkaTokenError(`the broker refused the OAUTHBEARER token (${status})`))
}
