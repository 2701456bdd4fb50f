/** Data lake tables: a Parquet / JSON-lines sink with a commit log, and a source that follows the log. */
export {
  type CompactionResult,
  type CompactOptions,
  compactIcebergTable,
} from './iceberg/compact.ts'
export { type LakeOptions, lake } from './lake.ts'
export { type LakeFormat, LOG_DIR, type LogEntry, type LogFile, STAGING_DIR } from './log.ts'
export { ParquetFile, type RowSlice } from './parquet-reader.ts'
export type { ParquetCompression } from './parquet-writer.ts'
export {
  DEFAULT_PARTITION,
  escapeName,
  escapePathPart,
  type PartitionValue,
  partitionPath,
} from './partition.ts'
export { LAKE_PARTITION, type LakeTableOptions, LakeTableReader, lakeTable } from './source.ts'
export { type LakeStorage, LocalLakeStorage } from './storage.ts'
