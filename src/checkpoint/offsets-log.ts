import { existsSync } from 'node:fs'
import { type FileHandle, open, readFile } from 'node:fs/promises'
import { crc32 } from 'node:zlib'
import { writeFileAtomic } from './atomic-file.ts'
import { CheckpointCorruptError } from './errors.ts'

/**
 * The offsets log, format version 1: one append-only file instead of one fsync'ed file per batch, so that
 * planning a batch costs one fdatasync (no temporary file, no rename, no directory fsync once the file
 * exists). A continuous pipeline plans a batch every few tens of milliseconds and waits for it before its
 * sink commits, so the second fsync was latency on every batch.
 *
 *   file   = MAGIC frame*
 *   MAGIC  = the 8 ASCII bytes "SLOFFS01" (the last two digits are the format version)
 *   frame  = length:u32le crc:u32le payload[length]    crc = CRC-32 (zlib) of payload
 *   payload = the batch's entry as UTF-8 JSON
 *
 * Frames are appended one at a time, each made durable before the next is written, so only the last frame
 * can be incomplete: a crash during an append leaves a short or mismatching tail. The reader stops at the
 * first frame that is incomplete or whose checksum does not match, and the writer cuts the file back to the
 * valid prefix before appending again. A torn frame was never reported durable, so the batch it described
 * was never committed by a sink: dropping it is what recovery would do with a batch never planned.
 * The file is created, and compacted, whole with writeFileAtomic (temp, fsync, rename, fsync dir).
 */
const MAGIC = Buffer.from('SLOFFS01', 'latin1')
const FRAME_HEADER = 8

export interface LoggedEntry {
  readonly batchId: number
}

export class OffsetsLog<T extends LoggedEntry> {
  readonly path: string
  readonly #entries = new Map<number, T>()
  /** Length of the valid prefix: where the next frame goes. */
  #appended = 0

  private constructor(path: string) {
    this.path = path
  }

  /** Opens (creating) the log, reads its entries and cuts a torn tail off. */
  static async open<T extends LoggedEntry>(path: string): Promise<OffsetsLog<T>> {
    const log = new OffsetsLog<T>(path)
    if (!existsSync(path)) await writeFileAtomic(path, MAGIC)
    const bytes = await readFile(path)
    if (bytes.length < MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC))
      throw new CheckpointCorruptError(
        `Checkpoint offsets log ${path} does not start with ${MAGIC.toString('latin1')}: not a version 1 offsets log.`,
      )
    let position = MAGIC.length
    while (position + FRAME_HEADER <= bytes.length) {
      const length = bytes.readUInt32LE(position)
      const checksum = bytes.readUInt32LE(position + 4)
      const end = position + FRAME_HEADER + length
      if (end > bytes.length) break
      const payload = bytes.subarray(position + FRAME_HEADER, end)
      if (crc32(payload) !== checksum) break
      let entry: T
      try {
        entry = JSON.parse(payload.toString('utf8')) as T
      } catch (error) {
        throw new CheckpointCorruptError(
          `Checkpoint offsets log ${path}: a checksummed entry is not JSON.`,
          error,
        )
      }
      log.#entries.set(entry.batchId, entry)
      position = end
    }
    if (position < bytes.length)
      await withFile(path, async (file) => {
        await file.truncate(position)
        await file.sync()
      })
    log.#appended = position
    return log
  }

  /** Batch ids in the log, ascending. */
  ids(): number[] {
    return [...this.#entries.keys()].sort((a, b) => a - b)
  }

  get(batchId: number): T | undefined {
    return this.#entries.get(batchId)
  }

  /** Appends an entry and returns once it is durable (one fdatasync). */
  async append(entry: T): Promise<void> {
    const payload = Buffer.from(JSON.stringify(entry), 'utf8')
    const frame = Buffer.allocUnsafe(FRAME_HEADER + payload.length)
    frame.writeUInt32LE(payload.length, 0)
    frame.writeUInt32LE(crc32(payload), 4)
    payload.copy(frame, FRAME_HEADER)
    // Opened per append (cheap next to the fdatasync) so a Checkpoint holds no file handle to close.
    await withFile(this.path, async (file) => {
      await file.write(frame, 0, frame.length, this.#appended)
      await file.datasync()
    })
    this.#appended += frame.length
    this.#entries.set(entry.batchId, entry)
  }

  /**
   * Drops entries before `oldest`. The file is rewritten (atomically) only once it holds more than
   * `rewriteAfter` entries beyond what is kept, so the cost is a few fsyncs every so many batches.
   */
  async prune(oldest: number, rewriteAfter = 500): Promise<void> {
    const dropped = this.ids().filter((id) => id < oldest)
    if (dropped.length <= rewriteAfter) return
    for (const id of dropped) this.#entries.delete(id)
    const frames: Buffer[] = [MAGIC]
    for (const id of this.ids()) {
      const payload = Buffer.from(JSON.stringify(this.#entries.get(id)), 'utf8')
      const header = Buffer.allocUnsafe(FRAME_HEADER)
      header.writeUInt32LE(payload.length, 0)
      header.writeUInt32LE(crc32(payload), 4)
      frames.push(header, payload)
    }
    const content = Buffer.concat(frames)
    await writeFileAtomic(this.path, content)
    this.#appended = content.length
  }
}

async function withFile(path: string, use: (file: FileHandle) => Promise<void>): Promise<void> {
  const file = await open(path, 'r+')
  try {
    await use(file)
  } finally {
    await file.close()
  }
}
