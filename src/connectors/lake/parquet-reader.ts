import { stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { type AsyncBuffer, type FileMetaData, parquetMetadataAsync, parquetReadObjects } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import { COLUMNS_METADATA_KEY, type ColumnSpec, parseColumnsMetadata, restoreRows } from './schema.ts'
import { type LakeStorage, LocalLakeStorage } from './storage.ts'

type Row = Record<string, unknown>

/** Rows [start, start + rows.length) of a Parquet file: one decoded row group. */
export interface RowSlice {
  readonly start: number
  readonly rows: Row[]
}

/**
 * A Parquet file read with hyparquet one row group at a time (zstd, gzip, brotli and lz4 through
 * hyparquet-compressors). Files written by lake() carry `sluice.columns` metadata, and their rows come back
 * exactly as written (JSON columns parsed, missing fields left out); other files' rows come back as
 * hyparquet decodes them. Usable on its own for a Parquet reader outside lake tables (e.g. files()).
 */
export class ParquetFile {
  readonly rows: number
  /** Row index where each row group starts, and the row count at the end. */
  readonly groups: readonly number[]
  readonly #buffer: AsyncBuffer
  readonly #metadata: FileMetaData
  readonly #columns: ColumnSpec[] | undefined

  private constructor(buffer: AsyncBuffer, metadata: FileMetaData) {
    this.#buffer = buffer
    this.#metadata = metadata
    this.#columns = parseColumnsMetadata(
      metadata.key_value_metadata?.find((kv) => kv.key === COLUMNS_METADATA_KEY)?.value,
    )
    const groups = [0]
    for (const group of metadata.row_groups) groups.push((groups.at(-1) as number) + Number(group.num_rows))
    this.groups = groups
    this.rows = groups.at(-1) as number
  }

  /** Opens `key` of a lake storage (its footer is read now). */
  static async open(storage: LakeStorage, key: string, size?: number): Promise<ParquetFile> {
    const byteLength = size ?? (await storage.size(key))
    if (byteLength === undefined) throw new Error(`${key}: no such file`)
    const buffer: AsyncBuffer = {
      byteLength,
      async slice(start: number, end?: number): Promise<ArrayBuffer> {
        const bytes = await storage.getRange(key, start, end ?? byteLength)
        return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
      },
    }
    return new ParquetFile(buffer, await parquetMetadataAsync(buffer))
  }

  /** Opens a local file. */
  static async openPath(path: string): Promise<ParquetFile> {
    const info = await stat(path)
    const name = path.slice(dirname(path).length + 1)
    return ParquetFile.open(new LocalLakeStorage(dirname(path)), name, info.size)
  }

  /** The row group holding `row`, decoded. */
  async slice(row: number): Promise<RowSlice> {
    let g = 0
    while (g + 2 < this.groups.length && (this.groups[g + 1] as number) <= row) g++
    const start = this.groups[g] as number
    const end = this.groups[g + 1] as number
    const rows = (await parquetReadObjects({
      file: this.#buffer,
      metadata: this.#metadata,
      rowStart: start,
      rowEnd: end,
      compressors,
    })) as Row[]
    if (this.#columns?.length === 0) for (let i = 0; i < rows.length; i++) rows[i] = {}
    restoreRows(rows, this.#columns)
    return { start, rows }
  }
}
