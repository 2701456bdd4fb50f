/**
 * A repeat within this long of the first signal is the same Ctrl-C arriving twice: the terminal sends it to the
 * whole process group, and `npm start` forwards the one it got to its child as well.
 */
const SAME_CTRL_C_MS = 1000

/**
 * An AbortSignal that fires on the first Ctrl-C or SIGTERM. A second one (later than SAME_CTRL_C_MS) runs
 * `onForce` (synchronous: stop what must not outlive the process) and exits at once.
 */
export function interruptSignal(onForce: () => void = () => {}): {
  signal: AbortSignal
  dispose: () => void
} {
  const controller = new AbortController()
  let firstAt = 0
  const onSignal = () => {
    if (!controller.signal.aborted) {
      firstAt = performance.now()
      controller.abort()
      return
    }
    if (performance.now() - firstAt < SAME_CTRL_C_MS) return
    onForce()
    process.exit(130)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}
