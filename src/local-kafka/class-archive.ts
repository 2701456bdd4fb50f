import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { cacheRoot } from './classpath.ts'

const run = promisify(execFile)

/**
 * The broker's class-data-sharing archive (HotSpot's dynamic AppCDS). Most of a Kafka start's CPU goes into
 * loading and verifying the few thousand classes of Kafka and Scala; mapped from an archive they cost about
 * half (9.3–10.8 → 4.6–5.7 CPU-s per broker start at load 9, read from /proc by a throwaway script). The first
 * broker on a machine records the archive as it exits (`-XX:ArchiveClassesAtExit`) into a file of its own;
 * the stop that saw it exit cleanly checks it with a throwaway JVM and only then moves it into place. A
 * half-written archive must never be used: HotSpot dies of SIGBUS mapping one.
 */

/** What a node records at launch so that its stop can adopt the archive it writes. */
interface PendingArchive {
  readonly java: string
  readonly classpath: string
  readonly pending: string
  readonly target: string
}

const MARKER = 'class-archive.json'
/** Only HotSpot has the archive flags; another JVM starts without them rather than refusing to start. */
const TOLERANT = '-XX:+IgnoreUnrecognizedVMOptions'
const STALE_PENDING_MS = 24 * 60 * 60 * 1000

/** The JVM flags for a node about to launch: use the archive, or record one if there is none yet. */
export async function classArchiveFlags(
  java: { path: string; versionText: string },
  classpath: string,
  nodeDir: string,
): Promise<string[]> {
  const target = archiveFile(java, classpath)
  if (existsSync(target)) return [TOLERANT, `-XX:SharedArchiveFile=${target}`]
  const dir = dirname(target)
  await mkdir(dir, { recursive: true })
  await removeStalePending(dir)
  // One file per node: the nodes of a cluster start together, and two JVMs must never write one file.
  const pending = `${target}.${randomBytes(6).toString('hex')}.pending`
  const marker: PendingArchive = { java: java.path, classpath, pending, target }
  await writeFile(join(nodeDir, MARKER), JSON.stringify(marker))
  return [TOLERANT, `-XX:ArchiveClassesAtExit=${pending}`]
}

/** The flags for another JVM on the broker's classpath (the storage tool): use the archive if there is one. */
export function classArchiveUseFlags(java: { versionText: string }, classpath: string): string[] {
  const target = archiveFile(java, classpath)
  return existsSync(target) ? [TOLERANT, `-XX:SharedArchiveFile=${target}`] : []
}

/** One archive per JVM build and classpath: HotSpot refuses an archive made by another of either. */
function archiveFile(java: { versionText: string }, classpath: string): string {
  const key = createHash('sha256').update(java.versionText).update(classpath).digest('hex').slice(0, 16)
  return join(cacheRoot(), 'class-archives', `broker-${key}.jsa`)
}

/**
 * Called by stop once the node's process is gone. `exitedCleanly` is false when it was killed or died on
 * its own: then its archive may be partial and is deleted.
 */
export async function settleClassArchive(nodeDir: string, exitedCleanly: boolean): Promise<void> {
  const markerFile = join(nodeDir, MARKER)
  let marker: PendingArchive
  try {
    marker = JSON.parse(await readFile(markerFile, 'utf8')) as PendingArchive
  } catch {
    return
  }
  try {
    if (!existsSync(marker.pending)) return
    if (exitedCleanly && !existsSync(marker.target) && (await loads(marker))) {
      await rename(marker.pending, marker.target)
    }
  } finally {
    await rm(marker.pending, { force: true })
    await rm(markerFile, { force: true })
  }
}

/** A JVM on the broker's classpath maps the archive without a warning and exits 0. */
async function loads(marker: PendingArchive): Promise<boolean> {
  try {
    const { stdout, stderr } = await run(
      marker.java,
      [`-XX:SharedArchiveFile=${marker.pending}`, '-Xlog:cds=warning', '-cp', marker.classpath, '-version'],
      { timeout: 60_000 },
    )
    return !/Unable to use shared archive|failed to load|error/i.test(stdout + stderr)
  } catch {
    return false
  }
}

/** Archives of brokers that were never stopped through us (a SIGKILL, a reboot) would stay forever. */
async function removeStalePending(dir: string): Promise<void> {
  const now = Date.now()
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.pending')) continue
    const file = join(dir, name)
    const info = await stat(file).catch(() => undefined)
    if (info && now - info.mtimeMs > STALE_PENDING_MS) await rm(file, { force: true })
  }
}
