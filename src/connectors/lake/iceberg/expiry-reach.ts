import { SluiceError } from '../../../errors.ts'
import { decodeAvroFile } from './avro.ts'
import { DELETED, decodeManifestList } from './manifests.ts'
import type { Snapshot } from './metadata.ts'
import type { TableFiles } from './table-files.ts'

export interface UnreferencedFiles {
  readonly manifestLists: readonly string[]
  readonly manifests: readonly string[]
  readonly dataFiles: readonly string[]
}

interface ManifestPaths {
  /** Data files listed ADDED or EXISTING: what a reader of a snapshot with this manifest reads. */
  readonly live: readonly string[]
  /** Every data file it names, DELETED ones too. */
  readonly all: readonly string[]
}

/**
 * The files of the `expired` snapshots that none of the `kept` ones references: their manifest lists, the
 * manifests those list that no kept manifest list does, and the data files of those manifests that no kept
 * manifest lists as live. The kept snapshots' files must all be readable (an error deletes nothing); an
 * expired snapshot's file already gone is skipped (an earlier expiry deleted it).
 */
export async function unreferencedFiles(
  files: TableFiles,
  kept: readonly Snapshot[],
  expired: readonly Snapshot[],
): Promise<UnreferencedFiles> {
  const cache = new Map<string, ManifestPaths | undefined>()
  const manifest = async (path: string, required: boolean) => {
    if (!cache.has(path)) cache.set(path, await readManifest(files, path, required))
    return cache.get(path)
  }
  const keptManifests = new Set<string>()
  const reachable = new Set<string>()
  for (const snapshot of kept) {
    for (const path of (await readList(files, snapshot['manifest-list'], true)) ?? []) {
      if (keptManifests.has(path)) continue
      keptManifests.add(path)
      for (const file of (await manifest(path, true))?.live ?? []) reachable.add(file)
    }
  }
  const manifestLists: string[] = []
  const manifests = new Set<string>()
  const dataFiles = new Set<string>()
  for (const snapshot of expired) {
    const list = await readList(files, snapshot['manifest-list'], false)
    if (list === undefined) continue
    manifestLists.push(snapshot['manifest-list'])
    for (const path of list) {
      if (keptManifests.has(path) || manifests.has(path)) continue
      manifests.add(path)
      for (const file of (await manifest(path, false))?.all ?? [])
        if (!reachable.has(file)) dataFiles.add(file)
    }
  }
  return { manifestLists, manifests: [...manifests], dataFiles: [...dataFiles] }
}

async function readList(files: TableFiles, uri: string, required: boolean): Promise<string[] | undefined> {
  const bytes = await readOrSkip(files, uri, required)
  return bytes && (await decodeManifestList(bytes)).map((m) => String(m.manifest_path))
}

async function readManifest(
  files: TableFiles,
  uri: string,
  required: boolean,
): Promise<ManifestPaths | undefined> {
  const bytes = await readOrSkip(files, uri, required)
  if (!bytes) return undefined
  const live: string[] = []
  const all: string[] = []
  for (const entry of await decodeAvroFile(bytes)) {
    const path = String((entry.data_file as { file_path: unknown }).file_path)
    all.push(path)
    if (Number(entry.status) !== DELETED) live.push(path)
  }
  return { live, all }
}

async function readOrSkip(
  files: TableFiles,
  uri: string,
  required: boolean,
): Promise<Uint8Array | undefined> {
  if (required) return files.read(uri)
  try {
    return await files.read(uri)
  } catch (error) {
    if (error instanceof SluiceError && error.code === 'SLUICE_ICEBERG_MISSING') return undefined
    throw error
  }
}
