/**
 * What the SQL sinks (postgres, mysql, duckdb) share: their common options, the offsets table contract, the
 * replay decision after a crash and the bad-row isolation strategy. Each sink keeps its own SQL.
 */
export { type ChunkOutcome, isolateRefused } from './isolate.ts'
export {
  committedPosition,
  mergePositions,
  NOTHING_STORED,
  parsePositions,
  type StoredPosition,
} from './offsets.ts'
export {
  DEFAULT_DEAD_LETTER_TABLE,
  DEFAULT_OFFSETS_TABLE,
  resolveSqlOptions,
  type SqlOptionRules,
  type SqlSinkOptions,
  type SqlSinkSettings,
} from './options.ts'
export { utf8Text } from './raw-text.ts'
export { covers, decideReplay, type ReplayDecision, samePositions } from './replay.ts'
export {
  asciiLower,
  basicNameProblem,
  jsonProblem,
  notARow,
  rowText,
  showName,
  sinkDeadLetter,
} from './rows.ts'
