import { type Logger, pino } from 'pino'
import pretty from 'pino-pretty'

export type { Logger }

/**
 * The project's logger: structured (pino), human-readable on a terminal and JSON lines otherwise, always on
 * stderr so stdout stays free for data (records, rows, bootstrap addresses). On a terminal a line bound to a
 * pipeline (`logger.child({ pipeline })`) starts with its id.
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  const level = options.level ?? process.env.SLUICE_LOG_LEVEL ?? 'info'
  const base = { level, ...(options.name ? { name: options.name } : {}) }
  if (process.stderr.isTTY) {
    return pino(
      base,
      pretty({
        destination: 2,
        colorize: true,
        // The pipeline a line is about leads the message; a restart's `retry` fields repeat its message.
        ignore: 'pid,hostname,pipeline,retry',
        messageFormat: '{if pipeline}{pipeline}: {end}{msg}',
        translateTime: 'HH:MM:ss.l',
        sync: true,
      }),
    )
  }
  return pino(base, pino.destination({ dest: 2, sync: true }))
}

/** A logger that drops everything: the default for library calls that were not given one. */
export const silentLogger: Logger = pino({ level: 'silent' })
