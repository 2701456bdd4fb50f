import type pg from 'pg'
import type { SourceRecord } from '../../runtime/source.ts'
import { NOTHING_STORED, parsePositions, type StoredPosition } from '../sql/index.ts'
import { PostgresError } from './errors.ts'
import { displayName, qualified, type TableName } from './identifiers.ts'

/**
 * The pipeline's row of the offsets table (see src/connectors/sql/offsets.ts for the contract), in
 * PostgreSQL: `positions` is jsonb, the row is locked with SELECT … FOR UPDATE.
 */
export class PostgresOffsets {
  readonly #table: TableName
  readonly #pipelineId: string

  constructor(table: TableName, pipelineId: string) {
    this.#table = table
    this.#pipelineId = pipelineId
  }

  get createSql(): string {
    return (
      `CREATE TABLE IF NOT EXISTS ${qualified(this.#table)} (pipeline_id text PRIMARY KEY, batch_id bigint NOT NULL, ` +
      'positions jsonb NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())'
    )
  }

  /** The row exists before any transaction locks it. */
  async ensureRow(db: pg.Pool | pg.ClientBase): Promise<void> {
    await db.query(
      `INSERT INTO ${qualified(this.#table)} (pipeline_id, batch_id, positions) VALUES ($1, -1, '{}') ON CONFLICT (pipeline_id) DO NOTHING`,
      [this.#pipelineId],
    )
  }

  async read(db: pg.Pool | pg.ClientBase, lock = false): Promise<StoredPosition | undefined> {
    const result = await db.query<{ batch_id: string; positions: unknown }>(
      `SELECT batch_id, positions FROM ${qualified(this.#table)} WHERE pipeline_id = $1${lock ? ' FOR UPDATE' : ''}`,
      [this.#pipelineId],
    )
    const row = result.rows[0]
    return row ? { batchId: Number(row.batch_id), positions: parsePositions(row.positions) } : undefined
  }

  /** Reads the pipeline's position and locks its row until the transaction ends (one writer at a time). */
  async lock(client: pg.ClientBase): Promise<StoredPosition> {
    const stored = await this.read(client, true)
    if (stored) return stored
    await this.ensureRow(client)
    return (await this.read(client, true)) ?? NOTHING_STORED
  }

  async store(client: pg.ClientBase, stored: StoredPosition): Promise<void> {
    await client.query(
      `UPDATE ${qualified(this.#table)} SET batch_id = $2, positions = $3::jsonb, updated_at = now() WHERE pipeline_id = $1`,
      [this.#pipelineId, stored.batchId, JSON.stringify(stored.positions)],
    )
  }

  /** A batch straddling the stored position: its rows cannot be de-duplicated one by one. */
  conflict(stored: StoredPosition, batchId: number, record: SourceRecord, target: string): PostgresError {
    const offsets = displayName(this.#table)
    return new PostgresError(
      `postgres sink: ${offsets} says pipeline "${this.#pipelineId}" committed batch ${stored.batchId} up to ` +
        `${JSON.stringify(stored.positions)}, but batch ${batchId} holds input before that (${record.partition}@${record.offset}): ` +
        `the checkpoint does not belong with this database. Run with the checkpoint that wrote it, or delete the ` +
        `pipeline's row from ${offsets} (and its rows from ${target}) to write everything again.`,
      { domain: 'user', retryable: false },
    )
  }
}
