/**
 * Sluice: Kafka-native streaming ETL for TypeScript.
 *
 * ```ts
 * import { pipeline, kafka, kafkaSink, run, triggers, tumbling, count, approxCountDistinct, aggregates } from 'sluice'
 * ```
 */
export * from './aggregate/index.ts'
export { type ClickEventRecord, clickEventSchema } from './clickstream/zod-schema.ts'
export {
  type FileProblem,
  loadPipelineFile,
  loadPipelineModule,
  loadPipelines,
  PipelineFileError,
  type PipelineFileOptions,
  parsePipelineYaml,
} from './config/index.ts'
export {
  type DuckDBQueryParameter,
  type DuckDBSink,
  type DuckDBSinkOptions,
  duckdb,
} from './connectors/duckdb/index.ts'
export {
  type CsvOptions,
  type FileFormat,
  type FileRecord,
  type FilesOptions,
  type FileValue,
  files,
} from './connectors/files/index.ts'
export type { KafkaConnection } from './connectors/kafka/connection.ts'
export { type KafkaDeadLettersOptions, withKafkaDeadLetters } from './connectors/kafka/dead-letters.ts'
export { type KafkaSinkOptions, kafkaSink, recordValue } from './connectors/kafka/sink.ts'
export { type KafkaSourceOptions, kafka } from './connectors/kafka/source.ts'
export { type TopicTableOptions, topicTable } from './connectors/kafka/topic-table.ts'
export {
  DEFAULT_PARTITION,
  type LakeFormat,
  type LakeOptions,
  type LakeStorage,
  type LakeTableOptions,
  LocalLakeStorage,
  lake,
  lakeTable,
  type ParquetCompression,
  ParquetFile,
  type PartitionValue,
} from './connectors/lake/index.ts'
export {
  type MongoSinkContract,
  MongoSinkError,
  type MongoSinkOptions,
  type MongoWriteMode,
  mongodb,
} from './connectors/mongodb/index.ts'
export { MySqlError, MySqlRejectedError } from './connectors/mysql/errors.ts'
export { type MySqlSinkOptions, mysql } from './connectors/mysql/sink.ts'
export {
  type PgColumnType,
  PostgresError,
  type PostgresSinkOptions,
  postgres,
} from './connectors/postgres/index.ts'
export { RedisError, type RedisSinkOptions, type RedisWriteMode, redis } from './connectors/redis/index.ts'
export { jsonlTable, staticTable } from './connectors/tables/static-table.ts'
export { console } from './connectors/testing/console.ts'
export { foreachBatch } from './connectors/testing/foreach-batch.ts'
export {
  type GeneratorRecord,
  type GeneratorSourceOptions,
  generator,
} from './connectors/testing/generator-source.ts'
export { type MemorySink, memory } from './connectors/testing/memory.ts'
export { memorySource } from './connectors/testing/memory-source.ts'
export type { RecordMeta } from './contracts/record-meta.ts'
export type { EventTimeField } from './dsl/event-time.ts'
export {
  fromJsonSchema,
  type JsonSchemaDocument,
  type JsonSchemaOptions,
  type JsonSchemaParser,
} from './dsl/parse.ts'
export {
  type AggregateFields,
  type GroupKey,
  type KeyedProcessOptions,
  KeyedStream,
  Pipeline,
  type PipelineOptions,
  pipeline,
  type StepOptions,
  Stream,
  type Table,
  WindowedStream,
  type WindowRow,
} from './dsl/stream.ts'
export * from './errors.ts'
export { describePlan } from './plan/describe.ts'
export type { KeyedProcessContext, OutputMode, Plan, PlanNode } from './plan/nodes.ts'
export { DEFAULT_RECORD_LIMITS, type RecordLimits } from './plan/record-limits.ts'
export {
  type RegisteredSchema,
  RegistryClient,
  type RegistryConnection,
  RegistryError,
  type RegistryOptions,
  type RegistryParser,
  registry,
} from './registry/index.ts'
export type { BatchProgress } from './runtime/progress.ts'
export { type Clock, type RunOptions, type RunSummary, run } from './runtime/run.ts'
export type { DeadLetter, OutputBatch, SinkSpec, SinkWriter } from './runtime/sink.ts'
export type { SourceReader, SourceRecord, SourceSpec } from './runtime/source.ts'
export { parseTrigger, type Trigger, triggers } from './runtime/trigger.ts'
export { TestDriver } from './testing/test-driver.ts'
export { type Monitor, type MonitorHooks, type MonitorOptions, startMonitor } from './ui/monitor.ts'
export { type Duration, hopping, session, tumbling, type WindowSpec } from './window/index.ts'
