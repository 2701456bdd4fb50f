import { UsageError } from '../../errors.ts'
import type { SinkSpec } from '../../runtime/sink.ts'
import { parseDuration } from '../../window/duration.ts'
import { parseTableName } from './iceberg/catalog.ts'
import { resolvePartitions } from './iceberg/partitioning.ts'
import { IcebergSinkWriter } from './iceberg/sink.ts'
import { isS3Path, openStorage } from './open-storage.ts'
import { DEFAULT_TARGET_FILE_BYTES, type LakeOptions } from './options.ts'
import { DEFAULT_MAX_COLUMNS } from './rows.ts'
import { LakeSinkWriter } from './sink.ts'

export type { LakeOptions } from './options.ts'

/**
 * A data lake table as a sink, exactly once: `.to(lake({ path: 'data/lake/events', partitionBy: ['event_type'] }))`.
 * Parquet (default) or JSON lines, Hive-style partition folders, a commit log in `_sluice_log/`; a local
 * folder or `s3://bucket/prefix`. Read it back with lakeTable() or files() (batch, or following new commits).
 */
export function lake<T>(options: LakeOptions<T>): SinkSpec<T> {
  if (typeof options.path !== 'string' || options.path === '')
    throw new UsageError('lake(): give the table folder (or s3://bucket/prefix) as path.')
  const format = options.format ?? 'parquet'
  if (format === 'iceberg') return icebergLake(options)
  if (format !== 'parquet' && format !== 'jsonl')
    throw new UsageError(
      `lake(): format must be "parquet", "jsonl" or "iceberg", got ${JSON.stringify(format)}.`,
    )
  if (options.catalog) throw new UsageError('lake(): catalog is for format "iceberg".')
  if (Array.isArray(options.partitionBy) && options.partitionBy.some((p) => typeof p !== 'string'))
    throw new UsageError('lake(): partition transforms ({ field, transform }) are for format "iceberg".')
  checkSharedOptions(options)
  const rollMs =
    options.rollInterval === undefined
      ? undefined
      : parseDuration(options.rollInterval, 'lake() rollInterval')
  if (
    options.rowGroupRows !== undefined &&
    !(Number.isSafeInteger(options.rowGroupRows) && options.rowGroupRows > 0)
  )
    throw new UsageError('lake(): rowGroupRows must be a positive integer.')
  if (format === 'jsonl' && options.compression !== undefined && options.compression !== 'none')
    throw new UsageError('lake(): JSON-lines tables are not compressed (compression applies to Parquet).')
  if (
    options.maxColumns !== undefined &&
    !(Number.isSafeInteger(options.maxColumns) && options.maxColumns > 0)
  )
    throw new UsageError('lake(): maxColumns must be a positive whole number.')
  if (options.scaleOut !== undefined && typeof options.scaleOut !== 'boolean')
    throw new UsageError('lake(): scaleOut must be true or false.')
  // Parses the address now, so that a bad one fails at definition time.
  if (isS3Path(options.path) && !options.storage) openStorage(options)
  return {
    type: 'lake',
    options: {
      path: options.path,
      format,
      ...(options.partitionBy
        ? { partitionBy: typeof options.partitionBy === 'function' ? 'function' : [...options.partitionBy] }
        : {}),
      targetFileBytes: options.targetFileBytes ?? DEFAULT_TARGET_FILE_BYTES,
      ...(rollMs === undefined ? {} : { rollIntervalMs: rollMs }),
      ...(options.scaleOut === false ? { scaleOut: false } : {}),
    },
    ...(options.scaleOut === false
      ? { singleInstance: 'lake({ scaleOut: false }) keeps one writer for the whole pipeline' }
      : rollMs !== undefined
        ? {
            singleInstance:
              "with rollInterval a batch commits into the instance's own roll spool and reaches the table's log, where instances fence each other's partitions, only when rolled, so the pipeline runs as one instance (without rollInterval each batch commits to the log, and instances share the input)",
          }
        : { scalesOut: 'stateless' as const }),
    create: () => new LakeSinkWriter<T>(options),
  }
}

/** lake({ format: 'iceberg' }): checks the options that apply and builds the Iceberg writer. */
function icebergLake<T>(options: LakeOptions<T>): SinkSpec<T> {
  if (!options.catalog || typeof options.catalog.sqlite !== 'string' || options.catalog.sqlite === '')
    throw new UsageError(
      "lake(): format 'iceberg' needs a catalog: catalog: { sqlite: 'catalog.db', table: 'namespace.name' }.",
    )
  parseTableName(options.catalog.table)
  if (typeof options.partitionBy === 'function')
    throw new UsageError(
      "lake(): an Iceberg table is partitioned by fields: partitionBy: ['event_type', { field: 'event_time', transform: 'day' }].",
    )
  if (options.rollInterval !== undefined)
    throw new UsageError(
      "lake(): rollInterval is not available with format 'iceberg' yet (a snapshot per batch).",
    )
  checkSharedOptions(options)
  const partitions = resolvePartitions(options.partitionBy ?? [])
  const catalog = options.catalog
  return {
    type: 'lake',
    singleInstance:
      "an Iceberg table keeps the pipeline's position in its snapshots' summaries, which snapshot expiry (sluice lake expire) removes, so positions per partition would need a record of their own that outlives it (not built): the pipeline runs as one instance (the Parquet and JSON-lines formats scale out)",
    options: {
      path: options.path,
      format: 'iceberg',
      catalog: { sqlite: catalog.sqlite, table: catalog.table, name: catalog.name ?? 'sluice' },
      partitionBy: partitions.map((p) => `${p.transform}(${p.source})`),
      targetFileBytes: options.targetFileBytes ?? DEFAULT_TARGET_FILE_BYTES,
    },
    create: () =>
      new IcebergSinkWriter<T>({
        storage: openStorage(options),
        ownsStorage: !options.storage,
        catalog,
        partitions,
        targetFileBytes: options.targetFileBytes ?? DEFAULT_TARGET_FILE_BYTES,
        ...(options.compression ? { compression: options.compression } : {}),
        ...(options.rowGroupRows ? { rowGroupRows: options.rowGroupRows } : {}),
        ...(options.writerId ? { writerId: options.writerId } : {}),
        maxColumns: options.maxColumns ?? DEFAULT_MAX_COLUMNS,
      }),
  }
}

/** The checks of the options both formats take. */
function checkSharedOptions<T>(options: LakeOptions<T>): void {
  if (options.targetFileBytes !== undefined && !(options.targetFileBytes > 0))
    throw new UsageError('lake(): targetFileBytes must be positive.')
  if (options.compression !== undefined && !['snappy', 'zstd', 'gzip', 'none'].includes(options.compression))
    throw new UsageError(`lake(): unknown compression ${JSON.stringify(options.compression)}.`)
  if (options.writerId === '') throw new UsageError('lake(): writerId must not be empty.')
  if (options.s3 && !isS3Path(options.path))
    throw new UsageError('lake(): s3 options are for s3://bucket/prefix paths.')
}
