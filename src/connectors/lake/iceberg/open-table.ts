import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { SluiceError } from '../../../errors.ts'
import { type LakeStorage, LocalLakeStorage } from '../storage.ts'
import { S3LakeStorage, type S3Options } from '../storage-s3.ts'
import { type IcebergCatalogOptions, SqliteCatalog } from './catalog.ts'
import type { TableMetadata } from './metadata.ts'
import { TableFiles } from './table-files.ts'

/** An Iceberg table found through its catalog, for the tools that read or rewrite it (query, compaction). */
export interface OpenTable {
  readonly catalog: SqliteCatalog
  readonly files: TableFiles
  readonly storage: LakeStorage
  readonly location: string
  readonly metadata: TableMetadata
}

/**
 * Opens the table `catalog` names at its current metadata. Its files are where that metadata's `location`
 * says: a local folder (file://) or S3 (s3://, with `s3` options for the client), so only the catalog is
 * needed to find a table.
 */
export async function openTable(catalogOptions: IcebergCatalogOptions, s3?: S3Options): Promise<OpenTable> {
  // A reader never creates a catalog: a mistyped path is a message, not a new empty file.
  if (!existsSync(catalogOptions.sqlite))
    throw new SluiceError(
      'SLUICE_ICEBERG_NO_TABLE',
      `lake: there is no SQL catalog at ${catalogOptions.sqlite}: give the catalog file the table was written to.`,
      { domain: 'user' },
    )
  const catalog = new SqliteCatalog(catalogOptions)
  try {
    const location = await catalog.load()
    if (location === undefined)
      throw new SluiceError(
        'SLUICE_ICEBERG_NO_TABLE',
        `lake: ${catalog.description} has no such table: check the table name and the catalog file.`,
        { domain: 'user' },
      )
    const storage = storageAt(await tableLocation(location, s3), s3)
    const files = new TableFiles(storage)
    return { catalog, files, storage, location, metadata: await files.readMetadata(location) }
  } catch (error) {
    catalog.close()
    throw error
  }
}

/** The table's root location, from its metadata file. */
async function tableLocation(metadataUri: string, s3: S3Options | undefined): Promise<string> {
  if (metadataUri.startsWith('file:'))
    return (JSON.parse(await readFile(fileURLToPath(metadataUri), 'utf8')) as TableMetadata).location
  if (metadataUri.startsWith('s3://')) {
    // metadata files are <location>/metadata/<name>, as every writer lays them out
    const root = metadataUri.replace(/\/metadata\/[^/]+$/, '')
    const storage = new S3LakeStorage(root, s3)
    const files = new TableFiles(storage)
    return (await files.readMetadata(metadataUri)).location
  }
  throw new SluiceError(
    'SLUICE_ICEBERG_STORAGE',
    `lake: the table's metadata is at ${metadataUri}; Sluice reads tables in local folders (file://) and S3 (s3://).`,
    { domain: 'user' },
  )
}

function storageAt(location: string, s3: S3Options | undefined): LakeStorage {
  if (location.startsWith('s3://')) return new S3LakeStorage(location, s3)
  return new LocalLakeStorage(location.startsWith('file:') ? fileURLToPath(location) : location)
}
