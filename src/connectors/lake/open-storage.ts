import type { LakeStorage } from './storage.ts'
import { LocalLakeStorage } from './storage.ts'
import { S3LakeStorage, type S3Options } from './storage-s3.ts'

/** Where lake() and lakeTable() find a table: an explicit storage, `s3://bucket/prefix`, or a local folder. */
export interface StorageChoice {
  readonly path: string
  readonly storage?: LakeStorage
  readonly s3?: S3Options
}

export function isS3Path(path: string): boolean {
  return path.startsWith('s3://')
}

export function openStorage(choice: StorageChoice): LakeStorage {
  if (choice.storage) return choice.storage
  if (isS3Path(choice.path)) return new S3LakeStorage(choice.path, choice.s3)
  return new LocalLakeStorage(choice.path)
}
