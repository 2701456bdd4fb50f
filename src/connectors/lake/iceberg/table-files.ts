import { SluiceError } from '../../../errors.ts'
import { type LakeStorage, LocalLakeStorage } from '../storage.ts'
import { S3LakeStorage } from '../storage-s3.ts'
import type { TableMetadata } from './metadata.ts'

/**
 * Where an Iceberg table's files are, as the URIs its metadata holds: `file:///abs/folder/…` for a local
 * table, `s3://bucket/prefix/…` for S3. Keys of the table's storage are relative to that location.
 */
export class TableFiles {
  readonly storage: LakeStorage
  readonly location: string

  constructor(storage: LakeStorage) {
    this.storage = storage
    if (storage instanceof S3LakeStorage)
      this.location = `s3://${storage.bucket}/${storage.prefix.replace(/\/$/, '')}`.replace(/\/$/, '')
    else if (storage instanceof LocalLakeStorage) this.location = `file://${storage.root}`
    else
      throw new SluiceError(
        'SLUICE_ICEBERG_STORAGE',
        `lake: Iceberg tables need a local folder or S3; ${storage.description} is neither.`,
        {
          domain: 'user',
        },
      )
  }

  uri(key: string): string {
    return `${this.location}/${key}`
  }

  key(uri: string): string {
    if (!uri.startsWith(`${this.location}/`))
      throw new SluiceError(
        'SLUICE_ICEBERG_LOCATION',
        `lake: ${uri} is outside the table's location ${this.location}: give lake() the table's own location as path.`,
        { domain: 'user' },
      )
    return uri.slice(this.location.length + 1)
  }

  async read(uri: string): Promise<Uint8Array> {
    const bytes = await this.storage.get(this.key(uri))
    if (!bytes)
      throw new SluiceError(
        'SLUICE_ICEBERG_MISSING',
        `lake: ${uri}, which the table's metadata names, is missing.`,
        {
          domain: 'external',
        },
      )
    return bytes
  }

  async readMetadata(uri: string): Promise<TableMetadata> {
    const metadata = JSON.parse(Buffer.from(await this.read(uri)).toString('utf8')) as TableMetadata
    if (metadata['format-version'] !== 2)
      throw new SluiceError(
        'SLUICE_ICEBERG_VERSION',
        `lake: ${uri} is Iceberg format version ${metadata['format-version']}; Sluice writes version 2 tables only.`,
        { domain: 'user' },
      )
    return metadata
  }
}
