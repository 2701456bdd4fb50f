import type { DuckDBConnection } from '@duckdb/node-api'
import { SluiceError } from '../../errors.ts'
import type { Positions } from '../../runtime/source.ts'
import { parsePositions, type StoredPosition } from '../sql/index.ts'
import { quoteIdentifier } from './database.ts'

/** One offsets table per database file (in schema main), shared by every pipeline and table written there. */
export const OFFSETS_TABLE = 'sluice_offsets'

/**
 * The pipeline's row of the offsets table (see src/connectors/sql/offsets.ts for the contract), in DuckDB.
 * DuckDB has no row locks: the sink's writers of one database take turns through the database's lock.
 */
export const offsetsTableSql = `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(OFFSETS_TABLE)} (
   pipeline_id VARCHAR PRIMARY KEY, batch_id BIGINT NOT NULL, positions JSON NOT NULL,
   updated_at TIMESTAMP WITH TIME ZONE NOT NULL)`

export async function readStored(
  conn: DuckDBConnection,
  pipelineId: string,
): Promise<StoredPosition | undefined> {
  const reader = await conn.runAndReadAll(
    `SELECT batch_id, positions FROM ${quoteIdentifier(OFFSETS_TABLE)} WHERE pipeline_id = $1`,
    [pipelineId],
  )
  const row = reader.getRowObjectsJS()[0]
  if (!row) return undefined
  return { batchId: Number(row.batch_id), positions: parsePositions(String(row.positions)) }
}

/** Inside the batch's transaction, before COMMIT. */
export async function storePosition(
  conn: DuckDBConnection,
  pipelineId: string,
  batchId: number,
  positions: Positions,
): Promise<void> {
  await conn.run(
    `INSERT INTO ${quoteIdentifier(OFFSETS_TABLE)} (pipeline_id, batch_id, positions, updated_at)
     VALUES ($1, $2, $3, now())
     ON CONFLICT (pipeline_id) DO UPDATE
       SET batch_id = excluded.batch_id, positions = excluded.positions, updated_at = excluded.updated_at`,
    [pipelineId, BigInt(batchId), JSON.stringify(positions)],
  )
}

/** The checkpoint and the database disagree on which input a batch id stands for. */
export function lineageError(
  location: string,
  pipelineId: string,
  stored: number,
  batchId: number,
): SluiceError {
  const id = pipelineId.replaceAll("'", "''")
  return new SluiceError(
    'SLUICE_DUCKDB_OFFSETS_MISMATCH',
    `DuckDB ${location}: ${OFFSETS_TABLE} says pipeline "${pipelineId}" committed batch ` +
      `${stored} here, but the checkpoint is at batch ${batchId} with other positions: the checkpoint was deleted ` +
      'or belongs to another run, and writing would duplicate or skip rows. Restore the checkpoint, or start ' +
      `over by removing what the old run wrote and its offsets row (DELETE FROM ${OFFSETS_TABLE} WHERE ` +
      `pipeline_id = '${id}').`,
    { domain: 'user', exitCode: 2 },
  )
}
