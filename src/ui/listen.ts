import type { Server } from 'node:http'
import { UsageError } from '../errors.ts'

export interface ListenOptions {
  readonly host: string
  readonly port: number
  /**
   * True when the user chose the port: a busy port is then an error. Otherwise the next free port after it
   * is taken, so a second `npm start` (or a test run beside one) still gets a dashboard.
   */
  readonly exact: boolean
  /** Ports tried when not exact. Default 50. */
  readonly attempts?: number
}

/** Binds the server and returns the port it got. */
export async function listenOnFreePort(server: Server, options: ListenOptions): Promise<number> {
  const attempts = options.exact ? 1 : (options.attempts ?? 50)
  for (let i = 0; i < attempts; i++) {
    const port = options.port + i
    if (port > 65535) break
    try {
      return await listen(server, options.host, port)
    } catch (error) {
      if (code(error) === 'EADDRINUSE' && !options.exact) continue
      throw explain(error, options.host, port)
    }
  }
  throw new UsageError(
    `No free port for the dashboard on ${options.host} from ${options.port} to ${Math.min(65535, options.port + attempts - 1)}; choose one with --ui-port.`,
  )
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.off('listening', onListening)
      reject(error)
    }
    const onListening = () => {
      server.off('error', onError)
      const address = server.address()
      resolve(typeof address === 'object' && address ? address.port : port)
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(port, host)
  })
}

function code(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined
}

function explain(error: unknown, host: string, port: number): Error {
  switch (code(error)) {
    case 'EADDRINUSE':
      // The system's own words (listen EADDRINUSE …) would only repeat this.
      return new UsageError(
        `Port ${port} on ${host} is already in use: choose another dashboard port with --ui-port, or leave --ui-port out to take the next free one.`,
      )
    case 'EACCES':
      return new UsageError(
        `Port ${port} on ${host} needs privileges this process does not have: choose a port above 1023 with --ui-port.`,
      )
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UsageError(`--ui-host ${host} is not an address of this machine.`, error)
    default:
      return error instanceof Error ? error : new Error(String(error))
  }
}
