import { open, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Writes a file so that a crash at any instant leaves either the old content or the new one, never a torn
 * mix: write a temporary file, fsync it, rename it over the target, fsync the directory (so the rename
 * itself survives a power cut).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  const file = await open(tmp, 'w')
  try {
    await file.writeFile(data)
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(tmp, path)
  await syncDirectory(dirname(path))
}

/**
 * Replaces a file by renaming a temporary one over it, without fsync: a crash of the process leaves the old
 * or the new content (the page cache survives it), a power cut may lose the new file. For markers whose loss
 * recovery tolerates (see Checkpoint.commitBatch).
 */
export async function writeFileReplacing(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, data)
  await rename(tmp, path)
}

export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
