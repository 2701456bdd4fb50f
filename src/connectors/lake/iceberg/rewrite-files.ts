import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { SluiceError } from '../../../errors.ts'
import type { LakeStorage } from '../storage.ts'
import type { LiveDataFile } from './live-files.ts'
import type { DataFile } from './manifests.ts'
import type { IcebergSchema } from './metadata.ts'
import type { TableFiles } from './table-files.ts'

/**
 * Rewrites data files of one partition as files of about `targetFileBytes` under `folderKey` (DuckDB reads
 * them by name, union of their columns, and writes each column with its table field id). Files of a table in
 * S3 are downloaded to a temporary folder first. The rows written are counted against the manifests' counts:
 * a rewrite that would lose or add a row fails before anything commits.
 */
export async function rewriteFiles(
  table: { readonly files: TableFiles; readonly storage: LakeStorage },
  sources: readonly LiveDataFile[],
  schema: IcebergSchema,
  folderKey: string,
  prefix: string,
  targetFileBytes: number,
): Promise<DataFile[]> {
  const { DuckDBInstance } = await import('@duckdb/node-api')
  const local = table.storage.localPath !== undefined
  const scratch = await mkdtemp(join(tmpdir(), 'sluice-compact-'))
  const instance = await DuckDBInstance.create(':memory:')
  const connection = await instance.connect()
  try {
    const paths: string[] = []
    for (const [i, file] of sources.entries()) {
      const key = table.files.key(file.path)
      if (table.storage.localPath) paths.push(table.storage.localPath(key))
      else {
        const path = join(scratch, `in-${i}.parquet`)
        await writeFile(path, await table.files.read(file.path))
        paths.push(path)
      }
    }
    const source = `read_parquet([${paths.map(quoteString).join(', ')}], union_by_name = true)`
    const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`)
    const ids = new Map(schema.fields.map((f) => [f.name, f.id]))
    const columns = described.getRowObjectsJS().map((r) => String(r.column_name))
    const unknown = columns.filter((c) => !ids.has(c))
    if (unknown.length > 0)
      throw new SluiceError(
        'SLUICE_ICEBERG_COMPACT',
        `lake compact: data files hold column(s) ${unknown.join(', ')} the table schema does not have.`,
        { domain: 'external' },
      )
    const dir = local ? (table.storage.localPath?.(folderKey.replace(/\/$/, '')) as string) : scratch
    await mkdir(dir, { recursive: true })
    const fieldIds = columns.map((c) => `${quoteString(c)}: ${ids.get(c)}`).join(', ')
    const reader = await connection.runAndReadAll(
      `COPY (SELECT * FROM ${source}) TO ${quoteString(dir)} (FORMAT parquet, COMPRESSION snappy, ` +
        `FILE_SIZE_BYTES ${Math.max(1, Math.floor(targetFileBytes))}, FILENAME_PATTERN ${quoteString(`${prefix}{i}`)}, ` +
        `OVERWRITE_OR_IGNORE true, RETURN_STATS true, FIELD_IDS {${fieldIds}})`,
    )
    const partition = sources[0]?.partition ?? []
    const out: DataFile[] = []
    for (const stats of reader.getRowObjects()) {
      const name = basename(String(stats.filename))
      const key = `${folderKey}${name}`
      if (Number(stats.count) === 0) {
        await rm(join(dir, name), { force: true })
        continue
      }
      if (local) await table.storage.sync?.(key)
      else if (table.storage.putFile) await table.storage.putFile(key, join(dir, name))
      else await table.storage.put(key, await readFile(join(dir, name)))
      out.push({
        path: table.files.uri(key),
        partition,
        rows: Number(stats.count),
        bytes: Number(stats.file_size_bytes),
      })
    }
    const read = sources.reduce((n, f) => n + f.rows, 0)
    const written = out.reduce((n, f) => n + f.rows, 0)
    if (read !== written) {
      for (const file of out) await table.storage.delete(table.files.key(file.path))
      throw new SluiceError(
        'SLUICE_ICEBERG_COMPACT',
        `lake compact: rewriting ${sources.length} files of ${read} rows wrote ${written} rows; nothing was committed.`,
        { domain: 'internal' },
      )
    }
    return out
  } finally {
    connection.closeSync()
    instance.closeSync()
    await rm(scratch, { recursive: true, force: true })
  }
}

function quoteString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`
}
