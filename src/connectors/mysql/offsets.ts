import type { PoolConnection, RowDataPacket } from 'mysql2/promise'
import { SluiceError, UsageError } from '../../errors.ts'
import type { SourceRecord } from '../../runtime/source.ts'
import { parsePositions, type StoredPosition } from '../sql/index.ts'
import { describeTable } from './schema.ts'
import { quoteId } from './sql.ts'

const DEAD_LETTER_COLUMNS = [
  'pipeline_id',
  'batch_id',
  'operator',
  'reason',
  'error_code',
  'source_partition',
  'source_offset',
  'record_key',
  'raw',
  'event_time',
]

/**
 * The pipeline's row of the offsets table (see src/connectors/sql/offsets.ts for the contract) and the
 * dead-letter table, in MySQL/MariaDB: InnoDB, `positions` is JSON, the row is locked with SELECT … FOR UPDATE.
 */
export class MySqlOffsets {
  readonly #table: string
  readonly #deadLetterTable: string
  readonly #pipelineId: string

  constructor(offsetsTable: string, deadLetterTable: string, pipelineId: string) {
    this.#table = offsetsTable
    this.#deadLetterTable = deadLetterTable
    this.#pipelineId = pipelineId
  }

  /** Creates both tables when missing, checks that existing ones are Sluice's, and the pipeline's row. */
  async ensure(conn: PoolConnection, database: string, keyCollation: string): Promise<void> {
    const offsets = quoteId(this.#table)
    await conn.query(
      `CREATE TABLE IF NOT EXISTS ${offsets} (
        pipeline_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE ${keyCollation} NOT NULL PRIMARY KEY,
        batch_id BIGINT NOT NULL,
        positions JSON NOT NULL,
        updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    )
    await conn.query(
      `CREATE TABLE IF NOT EXISTS ${quoteId(this.#deadLetterTable)} (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        pipeline_id VARCHAR(255) NOT NULL,
        batch_id BIGINT NOT NULL,
        operator VARCHAR(255) NOT NULL,
        reason TEXT NOT NULL,
        error_code INT NULL,
        source_partition VARCHAR(255) NULL,
        source_offset BIGINT NULL,
        record_key TEXT NULL,
        raw LONGBLOB NULL,
        event_time DATETIME(3) NULL,
        created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        KEY pipeline_batch (pipeline_id, batch_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    )
    const needs: readonly (readonly [string, string, readonly string[]])[] = [
      ['offsetsTable', this.#table, ['pipeline_id', 'batch_id', 'positions', 'updated_at']],
      ['deadLetterTable', this.#deadLetterTable, DEAD_LETTER_COLUMNS],
    ]
    for (const [option, name, columns] of needs) {
      const table = await describeTable(conn, database, name)
      const missing = columns.filter((c) => !table?.columns.has(c))
      if (missing.length > 0)
        throw new UsageError(
          `mysql(): table ${quoteId(database)}.${quoteId(name)} exists but lacks column(s) ${missing.map(quoteId).join(', ')}; it is not Sluice's (choose another name with ${option}).`,
        )
    }
    // The row exists before any transaction locks it (a locking read of a missing row would take a gap lock).
    await conn.execute(
      `INSERT IGNORE INTO ${offsets} (pipeline_id, batch_id, positions) VALUES (?, -1, '{}')`,
      [this.#pipelineId],
    )
  }

  /** The stored position; with `lock`, the row stays locked until the transaction ends. */
  async read(conn: PoolConnection, lock = false): Promise<StoredPosition> {
    const [rows] = await conn.execute<RowDataPacket[]>(
      `SELECT batch_id, positions FROM ${quoteId(this.#table)} WHERE pipeline_id = ?${lock ? ' FOR UPDATE' : ''}`,
      [this.#pipelineId],
    )
    return {
      batchId: Number(rows[0]?.['batch_id'] ?? -1),
      positions: parsePositions(rows[0]?.['positions'] ?? {}),
    }
  }

  async store(conn: PoolConnection, stored: StoredPosition): Promise<void> {
    await conn.execute(
      `INSERT INTO ${quoteId(this.#table)} (pipeline_id, batch_id, positions) VALUES (?, ?, ?)
         ON DUPLICATE KEY UPDATE batch_id = VALUES(batch_id), positions = VALUES(positions), updated_at = CURRENT_TIMESTAMP(3)`,
      [this.#pipelineId, stored.batchId, JSON.stringify(stored.positions)],
    )
  }

  /** A batch straddling the stored position: its rows cannot be de-duplicated one by one. */
  conflict(
    stored: StoredPosition,
    batchId: number,
    record: SourceRecord,
    database: string,
    target: string,
  ): SluiceError {
    const offsets = `${quoteId(database)}.${quoteId(this.#table)}`
    return new SluiceError(
      'SLUICE_MYSQL_OFFSETS',
      `mysql(): batch ${batchId} of pipeline "${this.#pipelineId}" mixes input ${offsets} says is written (${record.partition}@${record.offset}; the database is at batch ${stored.batchId}, ${JSON.stringify(stored.positions)}) with input that is not: the checkpoint was reset or belongs to another run, and the batch's rows cannot be told apart. Restore the checkpoint, or delete the pipeline's row from ${offsets} (and its rows from ${target}) to write everything again.`,
      { domain: 'user', exitCode: 2 },
    )
  }
}
