import type { Logger } from '../log.ts'
import type { TapKey, Taps } from '../runtime/tap.ts'
import { reportToSupervisor, type SupervisorMessage } from './workers.ts'

/**
 * The worker's side of the live tap under `sluice run --workers N --ui`: opens on this process's `taps` (the
 * ones its runs sample, as any run's) the taps the supervisor's dashboard opens, and sends it their samples,
 * until the supervisor closes them. Returns the function that stops answering and closes them all.
 */
export function answerSupervisorTaps(taps: Taps, logger: Logger): () => void {
  const open = new Map<string, () => void>()
  const name = (tap: TapKey) => `${tap.pipelineId}\u0000${tap.operatorId}`
  const onMessage = (message: SupervisorMessage) => {
    if (message.kind === 'tap-open' && !open.has(name(message.tap))) {
      const { tap } = message
      const close = taps.open(
        tap.pipelineId,
        tap.operatorId,
        (records) => {
          if (process.connected) reportToSupervisor({ kind: 'tap-records', tap, records })
        },
        { ...taps.limits, perSecond: message.perSecond },
      )
      open.set(name(tap), close)
      logger.info(
        { pipeline: tap.pipelineId, operator: tap.operatorId },
        "tap opened for the supervisor's dashboard",
      )
    } else if (message.kind === 'tap-close') {
      const { tap } = message
      open.get(name(tap))?.()
      if (open.delete(name(tap)))
        logger.info(
          { pipeline: tap.pipelineId, operator: tap.operatorId },
          "tap closed for the supervisor's dashboard",
        )
    }
  }
  process.on('message', onMessage)
  reportToSupervisor({ kind: 'tap-ready' })
  return () => {
    process.off('message', onMessage)
    for (const close of open.values()) close()
    open.clear()
  }
}
