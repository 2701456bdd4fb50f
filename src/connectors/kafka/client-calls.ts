import { type Base, type Callback, kPerformWithRetry } from '@platformatic/kafka'

/** A client's callback-style call as a promise. */
export function call<T>(start: (callback: Callback<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    start((error, result) => (error ? reject(error) : resolve(result as T)))
  })
}

/** Runs `attempt` under the client's own retry policy (only errors that say they can be retried are). */
export function withClientRetry(
  client: Pick<Base, typeof kPerformWithRetry>,
  operation: string,
  attempt: () => Promise<void>,
): Promise<void> {
  return call<void>((cb) =>
    client[kPerformWithRetry]<void>(
      operation,
      (retryCallback) => {
        attempt().then(
          () => retryCallback(null),
          (error: Error) => retryCallback(error),
        )
      },
      cb,
    ),
  )
}

/** Whether `error`, or an error it wraps or aggregates, carries one of the Kafka protocol error `codes`. */
export function hasApiCode(error: unknown, codes: ReadonlySet<number>): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { apiCode?: unknown }).apiCode
  if (typeof code === 'number' && codes.has(code)) return true
  const nested = (error as { errors?: unknown }).errors
  if (Array.isArray(nested) && nested.some((e) => hasApiCode(e, codes))) return true
  return hasApiCode((error as { cause?: unknown }).cause, codes)
}
