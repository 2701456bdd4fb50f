/**
 * One DuckDB instance per database per process. DuckDB lets one process write a database file, and inside
 * that process every pipeline writing the file must go through the same instance: this registry hands out
 * the instance by absolute path, counts its users and closes it when the last one lets go.
 */
import { mkdir } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api'
import { describeError, SluiceError } from '../../errors.ts'

/** Serialises work on one database: DDL, and each sink's transaction from write() to commit(). */
export class Mutex {
  #tail: Promise<void> = Promise.resolve()

  /** Resolves once the lock is held; call the returned function exactly once to release it. */
  async lock(): Promise<() => void> {
    let release!: () => void
    const held = new Promise<void>((r) => {
      release = r
    })
    const previous = this.#tail
    this.#tail = previous.then(() => held)
    await previous
    let released = false
    return () => {
      if (released) return
      released = true
      release()
    }
  }
}

export interface SharedDatabase {
  /** The registry key: the absolute file path, or the in-memory database's name. */
  readonly key: string
  /** What the user asked for, for messages. */
  readonly location: string
  readonly instance: DuckDBInstance
  readonly lock: Mutex
  /** A new connection in UTC (timestamps without an offset are read as UTC). */
  connect(): Promise<DuckDBConnection>
  /** Gives the reference back; the last one closes the instance. Idempotent. */
  release(): void
}

interface Entry {
  readonly instance: Promise<DuckDBInstance>
  readonly lock: Mutex
  refs: number
}

const databases = new Map<string, Entry>()
let anonymous = 0

/** True for ':memory:' and ':memory:<name>'. */
export function isMemoryLocation(location: string): boolean {
  return location === ':memory:' || location.startsWith(':memory:')
}

/**
 * The registry key of a location: the absolute path of a file; for ':memory:' a fresh name (each sink spec
 * has its own in-memory database), for ':memory:<name>' the name (shared by specs using it).
 */
export function databaseKey(location: string): string {
  if (location === ':memory:') return `:memory:sluice-${++anonymous}`
  if (isMemoryLocation(location)) return location
  return resolve(location)
}

/** Takes a reference to the database behind `key` (see databaseKey), opening it when it is not open yet. */
export async function acquireDatabase(key: string, location: string): Promise<SharedDatabase> {
  let entry = databases.get(key)
  if (!entry) {
    const created: Entry = { instance: openInstance(key, location), lock: new Mutex(), refs: 0 }
    entry = created
    databases.set(key, created)
    created.instance.catch(() => {
      if (databases.get(key) === created) databases.delete(key)
    })
  }
  entry.refs++
  let instance: DuckDBInstance
  try {
    instance = await entry.instance
  } catch (error) {
    entry.refs--
    throw error
  }
  const owner = entry
  let released = false
  return {
    key,
    location,
    instance,
    lock: owner.lock,
    async connect() {
      const connection = await instance.connect()
      await connection.run(`SET SESSION TimeZone = 'UTC'`)
      return connection
    },
    release() {
      if (released) return
      released = true
      owner.refs--
      if (owner.refs === 0 && databases.get(key) === owner) {
        databases.delete(key)
        instance.closeSync()
      }
    },
  }
}

/** How many instances the registry holds open (tests). */
export function openDatabaseCount(): number {
  return databases.size
}

async function openInstance(key: string, location: string): Promise<DuckDBInstance> {
  const memory = isMemoryLocation(key)
  if (!memory) await mkdir(dirname(key), { recursive: true })
  try {
    return await DuckDBInstance.create(memory ? ':memory:' : key)
  } catch (error) {
    const message = describeError(error)
    if (/lock/i.test(message)) {
      throw new SluiceError(
        'SLUICE_DUCKDB_LOCKED',
        `DuckDB database ${location} is open in another process (${message}). DuckDB lets one process write a ` +
          'database file: stop the other process, or give this pipeline another file.',
        { domain: 'external', cause: error },
      )
    }
    throw new SluiceError('SLUICE_DUCKDB_OPEN', `Could not open DuckDB database ${location}: ${message}`, {
      domain: 'external',
      cause: error,
    })
  }
}

/** `"name"` with embedded quotes doubled: every identifier Sluice puts into SQL goes through this. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** The first line of a DuckDB error (its message without the "LINE 1: …" context). */
export function duckdbMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error)
  return text.split('\n')[0]?.trim() || text
}
