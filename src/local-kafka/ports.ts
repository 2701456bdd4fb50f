import { createServer } from 'node:net'

/** True when nothing listens on 127.0.0.1:port. */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** A port the OS considers free right now (there is a small race until the broker binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** `count` consecutive free ports, starting at `first` when given, otherwise anywhere. */
export async function consecutiveFreePorts(count: number, first?: number): Promise<number[] | undefined> {
  const starts = first !== undefined ? [first] : await Promise.all(Array.from({ length: 20 }, freePort))
  for (const start of starts) {
    const ports = Array.from({ length: count }, (_, i) => start + i)
    if (ports.every((p) => p < 65536) && (await Promise.all(ports.map(isPortFree))).every(Boolean))
      return ports
  }
  return undefined
}
