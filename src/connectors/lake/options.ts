import type { Duration } from '../../window/duration.ts'
import type { IcebergCatalogOptions } from './iceberg/catalog.ts'
import type { PartitionTransform } from './iceberg/metadata.ts'
import type { LakeFormat } from './log.ts'
import type { ParquetCompression } from './parquet-writer.ts'
import type { PartitionValue } from './partition.ts'
import type { LakeStorage } from './storage.ts'
import type { S3Options } from './storage-s3.ts'

/** What lake() takes (see lake.ts), read by the Parquet/JSON-lines writer (sink.ts) and the Iceberg one. */
export interface LakeOptions<T> {
  /** The table folder, or `s3://bucket/prefix` for a table in S3 (or an S3-compatible store). */
  readonly path: string
  /**
   * Default "parquet". "iceberg": an Apache Iceberg table (format v2) registered in `catalog`, which Spark,
   * Trino, PyIceberg, DuckDB and the warehouses read (see README.md).
   */
  readonly format?: LakeFormat | 'iceberg'
  /**
   * Hive-style partition folders (`event_date=2026-11-25/event_type=purchase/`): fields of the row, or a
   * function giving the folder names and values in order. Values are percent-escaped; null or undefined is
   * the default partition (`__HIVE_DEFAULT_PARTITION__`). The rows keep every field in the data files.
   * Iceberg tables take field names (identity) and `{ field, transform: 'day' | 'hour' }` of Date fields.
   */
  readonly partitionBy?:
    | readonly (
        | (keyof T & string)
        | { readonly field: keyof T & string; readonly transform: PartitionTransform }
      )[]
    | ((row: T) => Readonly<Record<string, PartitionValue>>)
  /** Iceberg tables: the SQL catalog the table is registered in (required with format "iceberg"). */
  readonly catalog?: IcebergCatalogOptions
  /** A data file closes once it reaches this size (Parquet: at a row group boundary). Default 128 MiB. */
  readonly targetFileBytes?: number
  /**
   * Roll files by time and size instead of per batch: batches are committed (durably, exactly once) into a
   * spool, and every `rollInterval` (ms or text such as "5m"), or as soon as a partition's spooled rows would
   * fill `targetFileBytes`, the spooled rows become one set of files per partition and one commit of the
   * table. Readers see the rows at roll time. Default: every batch is a commit (files of at most
   * targetFileBytes, but one per partition and batch).
   */
  readonly rollInterval?: Duration
  /** Parquet compression, default "snappy". */
  readonly compression?: ParquetCompression
  /** Parquet rows per row group, default 122 880. */
  readonly rowGroupRows?: number
  /**
   * Who writes, as recorded in the commit log with each batch id: the pipeline id by default. A table knows
   * the last batch of each writer, so a replayed batch is recognised; a pipeline whose checkpoint was deleted
   * starts its batch ids again at 0 and needs a new writerId (or table) — reusing a batch id for other
   * input fails instead of writing twice or dropping data. Each instance of a scaled-out pipeline writes as
   * `<writerId>@<instance>`.
   */
  readonly writerId?: string
  /**
   * Lets instances of a stateless pipeline from Kafka share the source's partitions and write one table,
   * each committing the positions of its own partitions in its log entries (fenced through the log's order;
   * Parquet and JSON lines without rollInterval). Default true; false keeps one writer for the whole
   * pipeline (one instance), as before the lake could scale.
   */
  readonly scaleOut?: boolean
  /** S3 tables: endpoint, region, path style and credentials (default: the AWS_* environment variables). */
  readonly s3?: S3Options
  /** Where the files live; default: chosen from `path` (local folder or s3://). */
  readonly storage?: LakeStorage
  /**
   * The most columns a Parquet data file gets (default 1600, PostgreSQL's limit): a row whose new fields
   * would pass it is a dead letter. Writing a file costs with its width; see rows.ts.
   */
  readonly maxColumns?: number
}

/** A data file closes at this size unless targetFileBytes says otherwise. */
export const DEFAULT_TARGET_FILE_BYTES = 128 * 1024 * 1024
