import type { SinkContract } from '../../runtime/sink.ts'

/**
 * What the PostgreSQL, MariaDB/MySQL and DuckDB sinks guarantee: a batch's rows, its dead letters (in the
 * dead-letter table) and the source positions after it (the offsets row) commit in one database
 * transaction, so the database says after a crash whether a batch landed. The consumer group's offsets
 * follow the database (acknowledged by the runtime after the commit), for Kafka's lag tools.
 */
export const SQL_SINK_CONTRACT: SinkContract = Object.freeze({
  guarantee: 'exactly-once',
  storesPositions: true,
  commitsSourceOffsets: false,
  storesDeadLetters: true,
})
