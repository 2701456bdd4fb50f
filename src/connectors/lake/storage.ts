import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readdir, readFile, rename, rmdir, stat, unlink } from 'node:fs/promises'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { syncDirectory } from '../../checkpoint/atomic-file.ts'
import { SluiceError } from '../../errors.ts'

/**
 * Where a lake table's files live: a tiny object-store interface, so that an S3 (or GCS, Azure) storage can
 * be added beside the local one. Keys are "/"-separated paths relative to the table folder. What the sink
 * needs from a storage:
 * - `put` writes an object durably (a whole data file, already encoded);
 * - `putIfAbsent` is the commit point: the commit log entry appears whole, and only if no other writer took
 *   that version (local: link(2) of a synced temporary file; S3: a conditional PUT with If-None-Match: *);
 * - `rename` publishes a staged data file under its final key after its batch committed (local: an atomic
 *   rename; an S3 storage without renames sets `stagesData: false`, and the sink then writes data files
 *   straight under their final keys: readers that follow the log never see them before the commit, and
 *   cleanup lists the table for files no log entry names);
 * - `list`/`get`/`getRange`/`size`/`delete` for recovery, cleanup and readers.
 */
export interface LakeStorage {
  readonly description: string
  /** False for stores without an atomic rename (S3): data files are then written under their final keys. */
  readonly stagesData: boolean
  /** Writes (or replaces) an object; durable when the promise resolves. */
  put(key: string, data: Uint8Array | readonly Uint8Array[]): Promise<void>
  /** Writes the object only when the key is free, atomically (all or nothing). False when it exists. */
  putIfAbsent(key: string, data: Uint8Array): Promise<boolean>
  /** The whole object, or undefined when there is none. */
  get(key: string): Promise<Uint8Array | undefined>
  /** Bytes [start, end) of an object (Parquet footers and row groups). */
  getRange(key: string, start: number, end: number): Promise<Uint8Array>
  /** Size in bytes, or undefined when there is no such object. */
  size(key: string): Promise<number | undefined>
  /** Keys of every object under `prefix` (a folder key ending with "/", or "" for everything), any order. */
  list(prefix: string): Promise<string[]>
  /** Deletes an object (no error when there is none). */
  delete(key: string): Promise<void>
  /** Moves an object to a new key, atomically where the store can; durable when the promise resolves. */
  rename(from: string, to: string): Promise<void>
  /** Local stores: the file system path of a key (lets a Parquet encoder write there directly). */
  localPath?(key: string): string
  /** Local stores: make a file written through localPath() durable. */
  sync?(key: string): Promise<void>
  /** Remote stores: upload a local file (a Parquet file DuckDB wrote) without holding it in memory. */
  putFile?(key: string, path: string): Promise<void>
  /** Releases connections (remote stores). */
  close?(): void
}

/** The local file system under one folder; every key is checked to resolve inside it. */
export class LocalLakeStorage implements LakeStorage {
  readonly description: string
  readonly stagesData = true
  readonly root: string

  constructor(root: string) {
    this.root = resolve(root)
    this.description = `local ${root}`
  }

  localPath(key: string): string {
    const parts = key.split('/')
    for (const part of parts) {
      if (part === '' || part === '.' || part === '..' || part.includes('\0') || part.includes('\\'))
        throw new SluiceError('SLUICE_LAKE_PATH', `lake: invalid key ${JSON.stringify(key)}.`, {
          domain: 'internal',
        })
    }
    const path = join(this.root, ...parts)
    if (!path.startsWith(this.root + sep))
      throw new SluiceError('SLUICE_LAKE_PATH', `lake: ${JSON.stringify(key)} is outside ${this.root}.`, {
        domain: 'internal',
      })
    return path
  }

  async put(key: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const path = this.localPath(key)
    await mkdir(dirname(path), { recursive: true })
    const file = await open(path, 'w')
    try {
      if (data instanceof Uint8Array) await file.writeFile(data)
      else await file.writev([...data])
      await file.sync()
    } finally {
      await file.close()
    }
    await syncDirectory(dirname(path))
  }

  async putIfAbsent(key: string, data: Uint8Array): Promise<boolean> {
    const path = this.localPath(key)
    const dir = dirname(path)
    // A writer opening the table deletes the temporary files it finds beside the log entries (left by a
    // process that died committing), and with several writers one may be another's live commit: its link
    // then finds no file, and it writes the file again.
    for (let attempt = 1; ; attempt++) {
      await mkdir(dir, { recursive: true })
      const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`)
      try {
        const file = await open(tmp, 'wx')
        try {
          await file.writeFile(data)
          await file.sync()
        } finally {
          await file.close()
        }
        // link(2) fails when the target exists: an atomic "create if absent" of a complete file.
        await link(tmp, path)
        return true
      } catch (error) {
        if (code(error) === 'EEXIST') return false
        if (isNotFound(error) && attempt < 5) continue
        throw error
      } finally {
        await unlink(tmp).catch(() => {})
        await syncDirectory(dir).catch((error: unknown) => {
          if (!isNotFound(error)) throw error
        })
      }
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.localPath(key))
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw error
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    const file = await open(this.localPath(key), 'r')
    try {
      const buffer = Buffer.allocUnsafe(Math.max(0, end - start))
      let filled = 0
      while (filled < buffer.length) {
        const { bytesRead } = await file.read(buffer, filled, buffer.length - filled, start + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      return buffer.subarray(0, filled)
    } finally {
      await file.close()
    }
  }

  async size(key: string): Promise<number | undefined> {
    try {
      return (await stat(this.localPath(key))).size
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw error
    }
  }

  async list(prefix: string): Promise<string[]> {
    const dir = prefix === '' ? this.root : this.localPath(prefix.replace(/\/$/, ''))
    let entries: import('node:fs').Dirent[]
    try {
      entries = await readdir(dir, { recursive: true, withFileTypes: true })
    } catch (error) {
      if (isNotFound(error)) return []
      throw error
    }
    const out: string[] = []
    for (const entry of entries) {
      if (!entry.isFile()) continue
      out.push(relative(this.root, join(entry.parentPath, entry.name)).split(sep).join('/'))
    }
    return out
  }

  async delete(key: string): Promise<void> {
    const path = this.localPath(key)
    try {
      await unlink(path)
    } catch (error) {
      if (!isNotFound(error)) throw error
    }
    await this.#pruneEmpty(dirname(path))
  }

  async rename(from: string, to: string): Promise<void> {
    const source = this.localPath(from)
    const target = this.localPath(to)
    await mkdir(dirname(target), { recursive: true })
    await rename(source, target)
    await syncDirectory(dirname(target))
    await this.#pruneEmpty(dirname(source))
  }

  async sync(key: string): Promise<void> {
    const path = this.localPath(key)
    const file = await open(path, 'r')
    try {
      await file.sync()
    } finally {
      await file.close()
    }
    await syncDirectory(dirname(path))
  }

  /** Removes folders left empty below the root (staging folders of a finished batch). */
  async #pruneEmpty(dir: string): Promise<void> {
    let current = dir
    while (current.startsWith(this.root + sep)) {
      try {
        await rmdir(current)
      } catch {
        return
      }
      current = dirname(current)
    }
  }
}

function code(error: unknown): unknown {
  return error instanceof Error && 'code' in error ? error.code : undefined
}

export function isNotFound(error: unknown): boolean {
  const c = code(error)
  return c === 'ENOENT' || c === 'ENOTDIR'
}
