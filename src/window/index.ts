export { alignedStart, assignWindows, floorMod, windowClosed } from './assign.ts'
export { type Duration, formatDuration, type ParseDurationOptions, parseDuration } from './duration.ts'
export { addToSessions, type Session, type SessionUpdate, takeClosedSessions } from './session.ts'
export {
  describeWindow,
  type HoppingWindow,
  hopping,
  maxWindowsPerEvent,
  type SessionWindow,
  session,
  type TumblingWindow,
  tumbling,
  validateWindow,
  type WindowBounds,
  type WindowOptions,
  type WindowSpec,
} from './spec.ts'
