import { open, rename } from 'node:fs/promises'
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

export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
