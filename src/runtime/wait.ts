/** Resolves after `ms`, or at once when the signal aborts (never rejects): for polling loops. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/**
 * A following source's wait for more input: up to `idleMs`, it looks again every `intervalMs` (`refresh`, then
 * `read`) until `read` gives something, `keepWaiting` says stop, or the signal aborts. Returns the last read.
 */
export async function readWhenAvailable<T>(options: {
  readonly idleMs: number
  readonly intervalMs: number
  readonly signal: AbortSignal | undefined
  refresh(): Promise<void>
  read(): Promise<T[]>
  keepWaiting?(): boolean
}): Promise<T[]> {
  const deadline = performance.now() + options.idleMs
  let out: T[] = []
  while (!options.signal?.aborted) {
    const left = deadline - performance.now()
    if (left <= 0) break
    await sleep(Math.min(options.intervalMs, left), options.signal)
    if (options.signal?.aborted) break
    await options.refresh()
    out = await options.read()
    if (out.length > 0 || (options.keepWaiting && !options.keepWaiting())) break
  }
  return out
}
