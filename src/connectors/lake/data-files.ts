import type { RowType } from '../../plan/row-type.ts'
import type { LakeFormat } from './log.ts'
import { type EncodedFile, type ParquetCompression, ParquetEncoder } from './parquet-writer.ts'
import { type ColumnSpec, inferColumns } from './schema.ts'
import type { LakeStorage } from './storage.ts'

type Row = Readonly<Record<string, unknown>>

export interface DataFileOptions {
  readonly format: LakeFormat
  readonly targetFileBytes: number
  readonly compression?: ParquetCompression
  readonly rowGroupRows?: number
}

/**
 * Encodes the rows of one partition as data files `<dirKey><prefix><i>.<ext>`, split at targetFileBytes:
 * Parquet through DuckDB (one encoder per sink, loaded on first use), JSON lines as `JSON.stringify` per line.
 * Rows are an array (one batch) or an async sequence of arrays (spooled batches merged by a roll; Parquet
 * then needs the merged columns).
 */
export class DataFileWriter {
  readonly #options: DataFileOptions
  #encoder: ParquetEncoder | undefined
  /** What the plan's schema declares for the rows' fields (integers become INT64 columns). */
  rowType: RowType | undefined

  constructor(options: DataFileOptions) {
    this.#options = options
  }

  get extension(): string {
    return this.#options.format === 'parquet' ? 'parquet' : 'jsonl'
  }

  async write(
    storage: LakeStorage,
    dirKey: string,
    prefix: string,
    rows: readonly Row[] | AsyncIterable<readonly Row[]>,
    columns?: readonly ColumnSpec[],
  ): Promise<EncodedFile[]> {
    if (this.#options.format === 'jsonl') return this.#writeJsonl(storage, dirKey, prefix, rows)
    this.#encoder ??= new ParquetEncoder({
      ...(this.#options.compression ? { compression: this.#options.compression } : {}),
      ...(this.#options.rowGroupRows ? { rowGroupRows: this.#options.rowGroupRows } : {}),
    })
    const spec =
      columns ?? (Array.isArray(rows) ? inferColumns(rows as readonly Row[], this.rowType) : undefined)
    if (!spec) throw new Error('DataFileWriter: a sequence of row arrays needs its columns')
    return this.#encoder.write(storage, dirKey, prefix, rows, spec, this.#options.targetFileBytes)
  }

  async #writeJsonl(
    storage: LakeStorage,
    dirKey: string,
    prefix: string,
    rows: readonly Row[] | AsyncIterable<readonly Row[]>,
  ): Promise<EncodedFile[]> {
    const out: EncodedFile[] = []
    let chunks: Buffer[] = []
    let bytes = 0
    const flush = async () => {
      const key = `${dirKey}${prefix}${out.length}.jsonl`
      await storage.put(key, chunks)
      out.push({ key, rows: chunks.length, bytes })
      chunks = []
      bytes = 0
    }
    const parts: AsyncIterable<readonly Row[]> | readonly (readonly Row[])[] = Array.isArray(rows)
      ? [rows as readonly Row[]]
      : (rows as AsyncIterable<readonly Row[]>)
    for await (const part of parts) {
      for (const row of part) {
        const line = Buffer.from(`${JSON.stringify(row)}\n`)
        chunks.push(line)
        bytes += line.length
        if (bytes >= this.#options.targetFileBytes) await flush()
      }
    }
    if (chunks.length > 0) await flush()
    return out
  }

  async close(): Promise<void> {
    await this.#encoder?.close()
    this.#encoder = undefined
  }
}
