import { DatabaseSync } from 'node:sqlite'
import { CheckpointInUseError } from './errors.ts'

/** SQLite's result code when another connection holds a conflicting lock. */
const SQLITE_BUSY = 5

/**
 * One run per checkpoint directory. Node has no file-lock API, so this is a small SQLite database, `lock.db`,
 * in exclusive locking mode: its first write takes a POSIX lock that SQLite keeps until the connection
 * closes, and that the kernel drops when the process dies, SIGKILL included, so a crashed run never leaves a
 * stale lock behind. Another run (another process, or another connection in this one) cannot read the file
 * meanwhile and is refused at once.
 */
export class CheckpointLock {
  readonly #db: DatabaseSync

  private constructor(db: DatabaseSync) {
    this.#db = db
  }

  static acquire(file: string, location: string): CheckpointLock {
    const db = new DatabaseSync(file)
    try {
      db.exec('PRAGMA busy_timeout = 0')
      db.exec('PRAGMA locking_mode = EXCLUSIVE')
      db.exec(
        'CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER, since TEXT)',
      )
      db.prepare('INSERT OR REPLACE INTO holder VALUES (1, ?, ?)').run(process.pid, new Date().toISOString())
    } catch (error) {
      db.close()
      if ((error as { errcode?: number }).errcode === SQLITE_BUSY)
        throw new CheckpointInUseError(location, error)
      throw error
    }
    return new CheckpointLock(db)
  }

  release(): void {
    if (this.#db.isOpen) this.#db.close()
  }
}
