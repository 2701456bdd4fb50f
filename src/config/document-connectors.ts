import { z } from 'zod'
import { duration, expression, fieldName, fields, oneOf } from './schema-helpers.ts'

/** The pipeline file's sources, sinks and join tables: each a one-key mapping naming the connector. */

const topics = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
  error: 'expected a topic name or a list of topic names',
})

export const brokers = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
  error: 'expected "host:port" or a list of them',
})

/** Kafka security for every Kafka connector of the file (KafkaSecurity's fields, and a properties file). */
export const security = fields('security', {
  kafkaConfig: z.string().min(1).optional(),
  securityProtocol: z.enum(['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL']).optional(),
  saslMechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER']).optional(),
  saslUsername: z.string().min(1).optional(),
  saslPassword: z.string().min(1).optional(),
  saslOauthbearerToken: z.string().min(1).optional(),
  saslOauthbearerTokenFile: z.string().min(1).optional(),
  saslOauthbearerTokenCommand: z.string().min(1).optional(),
  sslCaLocation: z.string().min(1).optional(),
  sslCertificateLocation: z.string().min(1).optional(),
  sslKeyLocation: z.string().min(1).optional(),
  sslKeyPassword: z.string().min(1).optional(),
  sslKeystoreLocation: z.string().min(1).optional(),
  sslKeystorePassword: z.string().min(1).optional(),
  sslEndpointIdentification: z.boolean().optional(),
})

const kafkaSource = fields('source.kafka', {
  topics,
  groupId: z.string().min(1).optional(),
  startingOffsets: z
    .union([z.enum(['earliest', 'latest']), z.number().int().nonnegative()], {
      error: 'expected earliest, latest or a timestamp in epoch milliseconds',
    })
    .optional(),
  endingOffsets: z.literal('latest').optional(),
  instanceId: z.string().min(1).optional(),
})

const filesSource = fields('source.files', {
  path: z.string().min(1),
  format: z.enum(['jsonl', 'csv']),
  watch: z.boolean().optional(),
  extensions: z.array(z.string().min(1)).optional(),
  csv: fields('source.files.csv', {
    header: z.boolean().optional(),
    delimiter: z.string().length(1).optional(),
  }).optional(),
})

const fraction = z.number().min(0).max(1)

const generatorSource = fields('source.generator', {
  seed: z.number().int().optional(),
  users: z.number().int().positive().optional(),
  partitions: z.number().int().positive().optional(),
  rate: z.number().positive().optional(),
  count: z.number().int().nonnegative().optional(),
  bad: fraction.optional(),
  late: fraction.optional(),
  dupes: fraction.optional(),
  startTime: z.iso.datetime({ offset: true, error: 'expected an ISO-8601 time' }).optional(),
})

const lakeSource = fields('source.lake', {
  path: z.string().min(1),
  follow: z.boolean().optional(),
})

export const source = oneOf('source', {
  kafka: kafkaSource,
  files: filesSource,
  generator: generatorSource,
  lake: lakeSource,
})

const keyColumns = z.array(fieldName).min(1)
const onError = z.enum(['dead-letter', 'fail']).optional()

const kafkaSink = fields('sink.kafka', {
  topic: z.string().min(1),
  /** A field of the row; default the row's `key` field (windowed aggregates have one). */
  key: fieldName.optional(),
  deadLetterTopic: z.string().min(1).optional(),
  createPartitions: z.number().int().positive().optional(),
  compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).optional(),
})

function sqlSink(what: string) {
  return fields(what, {
    url: z.string().min(1).optional(),
    table: z.string().min(1),
    mode: z.enum(['append', 'upsert']).optional(),
    key: keyColumns.optional(),
    columns: z.record(z.string(), z.string()).optional(),
    createTable: z.boolean().optional(),
    onError,
    deadLetterTable: z.string().min(1).optional(),
    offsetsTable: z.string().min(1).optional(),
    scaleOut: z.boolean().optional(),
  })
}

const duckdbSink = fields('sink.duckdb', {
  path: z.string().min(1),
  table: z.string().min(1),
  schema: z.string().min(1).optional(),
  mode: z.enum(['append', 'upsert']).optional(),
  key: keyColumns.optional(),
  columns: z.record(z.string(), z.string()).optional(),
  createTable: z.boolean().optional(),
  onError,
  deadLetterTable: z.string().min(1).optional(),
  maxColumns: z.number().int().positive().optional(),
})

const lakeSink = fields('sink.lake', {
  path: z.string().min(1),
  format: z.enum(['parquet', 'jsonl']).optional(),
  partitionBy: z.array(fieldName).min(1).optional(),
  rollInterval: duration('roll interval').optional(),
  targetFileBytes: z.number().int().positive().optional(),
  compression: z.enum(['snappy', 'zstd', 'gzip', 'none']).optional(),
  writerId: z.string().min(1).optional(),
  maxColumns: z.number().int().positive().optional(),
  scaleOut: z.boolean().optional(),
})

const redisSink = fields('sink.redis', {
  url: z.string().min(1).optional(),
  mode: z.enum(['set', 'hash', 'stream']),
  /** The key of each row with {field} placeholders, or a stream's name. */
  key: z.string().min(1),
  value: fieldName.optional(),
  ttl: duration('ttl').optional(),
  onError,
  deadLetterStream: z.string().min(1).optional(),
  positionsKey: z.string().min(1).optional(),
})

const mongodbSink = fields('sink.mongodb', {
  url: z.string().min(1).optional(),
  database: z.string().min(1),
  collection: z.string().min(1),
  mode: z.enum(['insert', 'upsert']).optional(),
  /** One field (its value is the _id) or several (an object of them). */
  key: z.union([fieldName, keyColumns]).optional(),
  onError,
  deadLetterCollection: z.string().min(1).optional(),
  positionsCollection: z.string().min(1).optional(),
})

const consoleSink = z.union([z.null(), fields('sink.console', {})], {
  error: 'expected nothing or {} for the console sink',
})

/** Dead letters to a Kafka topic, beside a sink that does not keep them itself (lake, SQL, console). */
const deadLetters = fields('sink.deadLetters', {
  topic: z.string().min(1),
  createPartitions: z.number().int().positive().optional(),
})

export const sink = oneOf(
  'sink',
  {
    kafka: kafkaSink,
    postgres: sqlSink('sink.postgres'),
    mysql: sqlSink('sink.mysql'),
    duckdb: duckdbSink,
    lake: lakeSink,
    redis: redisSink,
    mongodb: mongodbSink,
    console: consoleSink,
  },
  { deadLetters: deadLetters.optional() },
)

/** Tables a stream can be joined with. */
export const table = oneOf('table', {
  jsonl: fields('table.jsonl', { path: z.string().min(1), key: fieldName }),
  topic: fields('table.topic', { topic: z.string().min(1) }),
  builtin: z.enum(['products'], { error: 'expected a built-in table: products' }),
})

export const watermark = fields('watermark', {
  field: fieldName,
  delay: duration('watermark delay', { allowZero: true }),
  idleTimeout: duration('idle timeout').optional(),
  late: z.enum(['drop', 'dead-letter']).optional(),
})

export { expression }
