import { catalogueRows } from '../clickstream/catalogue.ts'
import { duckdb } from '../connectors/duckdb/index.ts'
import { files } from '../connectors/files/index.ts'
import { readClientProperties } from '../connectors/kafka/client-properties.ts'
import { withKafkaDeadLetters } from '../connectors/kafka/dead-letters.ts'
import { type KafkaSecurity, mergeSecurity } from '../connectors/kafka/security.ts'
import { kafkaSink } from '../connectors/kafka/sink.ts'
import { kafka } from '../connectors/kafka/source.ts'
import { topicTable } from '../connectors/kafka/topic-table.ts'
import { lake, lakeTable } from '../connectors/lake/index.ts'
import { mongodb } from '../connectors/mongodb/index.ts'
import { mysql } from '../connectors/mysql/sink.ts'
import { postgres } from '../connectors/postgres/index.ts'
import { redis } from '../connectors/redis/index.ts'
import { jsonlTable, staticTable } from '../connectors/tables/static-table.ts'
import { console as consoleSink } from '../connectors/testing/console.ts'
import { generator } from '../connectors/testing/generator-source.ts'
import type { Table } from '../dsl/stream.ts'
import type { SinkSpec } from '../runtime/sink.ts'
import type { SourceSpec } from '../runtime/source.ts'
import type { SecurityDocument, SinkDocument, SourceDocument, TableDocument } from './document.ts'

/** Turns the validated connector sections of a pipeline file into the engine's sources, sinks and tables. */

/** Paths in a file are used as written: relative ones are relative to the working directory, like --checkpoint. */
export interface ConnectorContext {
  /** Kafka brokers: the --brokers flag, else the file's `brokers`, else $KAFKA_BROKERS. */
  readonly brokers: readonly string[] | string | undefined
  /** The file's `security` (the CLI's flags win over it, field by field, in every client). */
  readonly security: KafkaSecurity | undefined
}

function connection(context: ConnectorContext) {
  return {
    ...(context.brokers === undefined ? {} : { brokers: context.brokers }),
    ...(context.security === undefined ? {} : { security: context.security }),
  }
}

/** A file's `security`: its fields over those of its `kafkaConfig` properties file. */
export function fileSecurity(doc: SecurityDocument | undefined): KafkaSecurity | undefined {
  if (doc === undefined) return undefined
  const { kafkaConfig, ...fields } = doc
  return mergeSecurity(fields, kafkaConfig ? readClientProperties(kafkaConfig) : undefined)
}

/** Drops undefined fields: the connectors' options are exact optional types. */
function defined<T extends object>(options: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>
  }
}

export function buildSource(source: SourceDocument, context: ConnectorContext): SourceSpec {
  switch (source.kind) {
    case 'kafka':
      return kafka({ ...connection(context), ...defined(source.value) })
    case 'files':
      return files(defined(source.value))
    case 'generator': {
      const { startTime, ...rest } = source.value
      return generator({
        ...defined(rest),
        ...(startTime === undefined ? {} : { startTime: Date.parse(startTime) }),
      })
    }
    case 'lake':
      return lakeTable(defined(source.value))
  }
}

type Row = Record<string, unknown>

/** The sink, with `deadLetters: { topic }` sending its dead letters to Kafka when given. */
export function buildSink(sink: SinkDocument, context: ConnectorContext): SinkSpec<unknown> {
  const inner = innerSink(sink, context)
  if (!sink.deadLetters) return inner
  return withKafkaDeadLetters(inner, { ...connection(context), ...defined(sink.deadLetters) })
}

function innerSink(sink: SinkDocument, context: ConnectorContext): SinkSpec<unknown> {
  switch (sink.kind) {
    case 'kafka': {
      const { key, ...rest } = sink.value
      return kafkaSink<Row>({
        ...connection(context),
        ...defined(rest),
        ...(key === undefined ? {} : { key: (row) => keyField(row[key]) }),
      }) as SinkSpec<unknown>
    }
    case 'postgres':
      return postgres<Row>(defined(sink.value)) as SinkSpec<unknown>
    case 'mysql':
      return mysql<Row>(defined(sink.value)) as SinkSpec<unknown>
    case 'duckdb':
      return duckdb<Row>(defined(sink.value)) as SinkSpec<unknown>
    case 'lake':
      return lake<Row>(defined(sink.value)) as SinkSpec<unknown>
    case 'redis':
      return redis<Row>(defined(sink.value)) as SinkSpec<unknown>
    case 'mongodb':
      return mongodb<Row>(defined(sink.value)) as SinkSpec<unknown>
    case 'console':
      return consoleSink()
  }
}

/** A record key from a row's field: strings and numbers as they are, anything else (null, missing) no key. */
function keyField(value: unknown): string | number | undefined {
  return typeof value === 'string' || typeof value === 'number' ? value : undefined
}

export function buildTable(table: TableDocument, context: ConnectorContext): Table<unknown> {
  switch (table.kind) {
    case 'jsonl':
      return jsonlTable<Row>(table.value.path, table.value.key) as Table<unknown>
    case 'topic':
      return topicTable({ ...connection(context), topic: table.value.topic })
    case 'builtin':
      return staticTable('products', catalogueRows(), (p) => p.id) as Table<unknown>
  }
}
