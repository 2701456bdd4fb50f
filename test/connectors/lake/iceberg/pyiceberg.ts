import { execFile } from 'node:child_process'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const script = fileURLToPath(new URL('./read-iceberg.py', import.meta.url))
const digestScript = fileURLToPath(new URL('./digest-iceberg.py', import.meta.url))
const referencedScript = fileURLToPath(new URL('./referenced-files.py', import.meta.url))

/** The venv scripts/install-pyiceberg.sh made (npm test's pretest). */
export const PYTHON = join(
  process.env.SLUICE_CACHE ?? join(homedir(), '.cache', 'sluice'),
  'pyiceberg',
  'bin',
  'python',
)

/** PyIceberg file IO properties: for a table in S3, `s3.endpoint`, `s3.access-key-id`, … (s3Properties()). */
export type IcebergProperties = Readonly<Record<string, string>>

function options(properties: IcebergProperties | undefined) {
  const env = properties
    ? { ...process.env, SLUICE_ICEBERG_PROPERTIES: JSON.stringify(properties) }
    : process.env
  return { maxBuffer: 1 << 30, env }
}

export interface IcebergScan {
  readonly summary: Record<string, string> | null
  readonly operation: string | null
  readonly snapshots: number
  /** [field id, name, type] of the current schema. */
  readonly schema: [number, string, string][]
  readonly rows: Record<string, unknown>[]
}

/** Reads an Iceberg table with PyIceberg (an independent reader) through the SQL catalog in `db`. */
export async function readWithPyIceberg(
  db: string,
  table: string,
  catalog = 'sluice',
  properties?: IcebergProperties,
): Promise<IcebergScan> {
  const { stdout } = await run(PYTHON, [script, db, catalog, table], options(properties))
  return JSON.parse(stdout) as IcebergScan
}

export interface IcebergDigestScan extends Omit<IcebergScan, 'rows'> {
  readonly rows: number
  /** One content digest per row read (reference.ts rowDigest()), sorted. */
  readonly digests: string[]
}

/** As readWithPyIceberg(), but returns a content digest per row instead of the rows: lean for large tables. */
export async function digestWithPyIceberg(
  db: string,
  table: string,
  catalog = 'sluice',
  properties?: IcebergProperties,
): Promise<IcebergDigestScan> {
  const { stdout } = await run(PYTHON, [digestScript, db, catalog, table], options(properties))
  return JSON.parse(stdout) as IcebergDigestScan
}

/**
 * Every file the table's snapshots reference, as PyIceberg resolves them (manifest lists, manifests, live
 * data files, and the current metadata file), as locations (file:///…, s3://…).
 */
export async function referencedFiles(
  db: string,
  table: string,
  catalog = 'sluice',
  properties?: IcebergProperties,
): Promise<{ snapshots: number; files: string[] }> {
  const { stdout } = await run(PYTHON, [referencedScript, db, catalog, table], options(properties))
  return JSON.parse(stdout) as { snapshots: number; files: string[] }
}
