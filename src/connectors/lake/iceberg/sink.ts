import { randomInt, randomUUID } from 'node:crypto'
import { SluiceError, UsageError } from '../../../errors.ts'
import type {
  DeadLetter,
  OutputBatch,
  SinkCommitContext,
  SinkContract,
  SinkOpenContext,
  SinkWriter,
} from '../../../runtime/sink.ts'
import type { Positions } from '../../../runtime/source.ts'
import { showName, sinkDeadLetter } from '../../sql/index.ts'
import { type ParquetCompression, ParquetEncoder } from '../parquet-writer.ts'
import { partitionPath, shortHash } from '../partition.ts'
import { deleteOrphans } from '../recovery.ts'
import { rowProblem } from '../rows.ts'
import type { LakeStorage } from '../storage.ts'
import { type IcebergCatalog, type IcebergCatalogOptions, SqliteCatalog } from './catalog.ts'
import { TableColumns } from './columns.ts'
import {
  type DataFile,
  decodeManifestList,
  encodeManifest,
  encodeManifestList,
  type ManifestListEntry,
  manifestListEntry,
} from './manifests.ts'
import {
  ancestry,
  currentSchema,
  currentSnapshot,
  defaultSpec,
  type IcebergSchema,
  metadataVersion,
  type PartitionSpec,
  type TableMetadata,
} from './metadata.ts'
import { newSpec, partitionOf, type ResolvedPartition, sameSpec } from './partitioning.ts'
import {
  BATCH_KEY,
  END_KEY,
  hasExpiredAncestors,
  WRITER_KEY,
  withWriterPosition,
  writerPosition,
} from './positions.ts'
import { TableFiles } from './table-files.ts'

export interface IcebergSinkOptions {
  readonly storage: LakeStorage
  readonly ownsStorage: boolean
  readonly catalog: IcebergCatalogOptions
  readonly partitions: readonly ResolvedPartition[]
  readonly targetFileBytes: number
  readonly compression?: ParquetCompression
  readonly rowGroupRows?: number
  readonly writerId?: string
  readonly maxColumns: number
}

interface Staged {
  readonly batchId: number
  /** A replay of a committed batch: the end positions its snapshot recorded; nothing was written. */
  readonly committedEnd?: Positions | 'expired'
  readonly files: readonly DataFile[]
  readonly keys: readonly string[]
  readonly columns?: TableColumns
  readonly spec?: PartitionSpec
  /** The metadata the batch was typed against. */
  readonly base?: string
}

type Row = Readonly<Record<string, unknown>>

/**
 * Exactly-once, as the Parquet lake: a batch's files and the source positions after it commit together, here
 * in one Iceberg snapshot whose summary names the writer, the batch and the positions (as Flink's Iceberg
 * sink keeps its checkpoint id), made current by the catalog's compare-and-swap.
 */
const ICEBERG_SINK_CONTRACT: SinkContract = Object.freeze({
  guarantee: 'exactly-once',
  storesPositions: true,
  commitsSourceOffsets: false,
  storesDeadLetters: false,
})

/** Commit attempts before giving up when other writers keep moving the table on. */
const MAX_ATTEMPTS = 20

/**
 * The lake sink writing an Apache Iceberg table (format v2) registered in a SQL catalog. Per batch with rows:
 * 1. write: rows are typed against the table's schema (new fields become new columns, a value of another type
 *    a dead letter), grouped by partition, and written as Parquet files with Iceberg field ids under
 *    `data/<partition folders>/part-<batchId>-<hash of writer and folder>-<n>.parquet`;
 * 2. commit: a manifest listing them, a manifest list (it and the parent snapshot's manifests), and a new
 *    metadata file with the snapshot are written; the catalog's swap of the metadata pointer is the commit
 *    point. Files of a batch that never committed are referenced by nothing; the next open deletes them.
 */
export class IcebergSinkWriter<T> implements SinkWriter<T> {
  readonly description: string
  readonly #options: IcebergSinkOptions
  readonly #files: TableFiles
  readonly #catalog: IcebergCatalog
  readonly #encoder: ParquetEncoder
  #writer = ''
  #rowType: SinkOpenContext['rowType']
  #metadata: TableMetadata | undefined
  #location: string | undefined
  /** The current snapshot's manifest list, once read. */
  #manifests: ManifestListEntry[] | undefined
  /** This writer's last committed batch. */
  #own: { readonly batchId: number; readonly end: Positions } | undefined
  #staged: Staged | undefined
  #rejected: { readonly batch: OutputBatch<T>; readonly letters: readonly DeadLetter[] } | undefined

  constructor(options: IcebergSinkOptions) {
    this.#options = options
    this.#files = new TableFiles(options.storage)
    this.#catalog = new SqliteCatalog(options.catalog)
    this.#encoder = new ParquetEncoder({
      ...(options.compression ? { compression: options.compression } : {}),
      ...(options.rowGroupRows ? { rowGroupRows: options.rowGroupRows } : {}),
    })
    this.description = `lake ${this.#files.location} (iceberg, ${this.#catalog.description})`
  }

  async open(context: SinkOpenContext): Promise<SinkContract> {
    this.#writer = this.#options.writerId ?? context.pipelineId
    this.#rowType = context.rowType
    await this.#reload()
    const metadata = this.#metadata
    if (metadata && !sameSpec(defaultSpec(metadata), currentSchema(metadata), this.#options.partitions))
      throw new UsageError(
        `lake: ${this.description} is partitioned otherwise than partitionBy says (${
          defaultSpec(metadata)
            .fields.map((f) => `${f.transform}(${f.name})`)
            .join(', ') || 'unpartitioned'
        }); Sluice does not change a table's partitioning.`,
      )
    this.#own = metadata ? writerPosition(metadata, this.#writer) : undefined
    // Files of batches after the last committed one are an interrupted batch's: nothing references them.
    await deleteOrphans(this.#options.storage, this.#writer, this.#own?.batchId ?? -1)
    return ICEBERG_SINK_CONTRACT
  }

  async #reload(): Promise<void> {
    this.#location = await this.#catalog.load()
    this.#metadata = this.#location ? await this.#files.readMetadata(this.#location) : undefined
    this.#manifests = undefined
  }

  /**
   * Whether this writer committed `batchId`: the end positions its snapshot recorded, `'expired'` for a batch
   * before its last one whose snapshot expiry removed (a writer commits its batches in order, so the batch is
   * in the table), undefined when it did not commit it.
   */
  #committedEnd(batchId: number): Positions | 'expired' | undefined {
    if (!this.#own || this.#own.batchId < batchId || !this.#metadata) return undefined
    if (this.#own.batchId === batchId) return this.#own.end
    for (const snapshot of ancestry(this.#metadata)) {
      if (snapshot.summary[WRITER_KEY] !== this.#writer) continue
      const id = Number(snapshot.summary[BATCH_KEY])
      if (id === batchId) return JSON.parse(snapshot.summary[END_KEY] ?? '{}') as Positions
      if (id < batchId) return undefined
    }
    return hasExpiredAncestors(this.#metadata) ? 'expired' : undefined
  }

  async write(batch: OutputBatch<T>): Promise<void> {
    this.#staged = undefined
    this.#rejected = undefined
    if (batch.rows.length === 0) return
    const metadata = this.#metadata
    const schema = metadata ? currentSchema(metadata) : undefined
    const columns = new TableColumns(schema, metadata?.['last-column-id'] ?? 0, this.#options.maxColumns)
    const letters: DeadLetter[] = []
    const groups = new Map<string, { values: unknown[]; rows: Row[] }>()
    for (const row of batch.rows) {
      const problem =
        rowProblem(row, 'parquet') ??
        this.#partitionProblem(row as Row) ??
        columns.admit(row as Row, this.#rowType)
      if (problem !== undefined) {
        letters.push(sinkDeadLetter('sink', problem, row, null))
        continue
      }
      const { values, folders } = partitionOf(row as Row, this.#options.partitions)
      const path = partitionPath(folders)
      const group = groups.get(path) ?? { values, rows: [] }
      group.rows.push(row as Row)
      groups.set(path, group)
    }
    this.#rejected = { batch, letters }
    const committedEnd = this.#committedEnd(batch.batchId)
    if (committedEnd) {
      this.#staged = { batchId: batch.batchId, committedEnd, files: [], keys: [] }
      return
    }
    const spec = metadata ? defaultSpec(metadata) : newSpec(this.#options.partitions, columns)
    const files: DataFile[] = []
    const keys: string[] = []
    for (const [path, group] of groups) {
      const folder = path === '' ? 'data' : `data/${path}`
      const prefix = `part-${batch.batchId}-${shortHash(`${this.#writer}\n${folder}`)}-`
      const { columns: specs, fieldIds } = columns.fileColumns(group.rows)
      const written = await this.#encoder.write(
        this.#options.storage,
        `${folder}/`,
        prefix,
        group.rows,
        specs,
        this.#options.targetFileBytes,
        { fieldIds },
      )
      for (const file of written) {
        keys.push(file.key)
        files.push({
          path: this.#files.uri(file.key),
          partition: group.values,
          rows: file.rows,
          bytes: file.bytes,
        })
      }
    }
    this.#staged = {
      batchId: batch.batchId,
      files,
      keys,
      columns,
      spec,
      ...(this.#location ? { base: this.#location } : {}),
    }
  }

  /** A row whose partition value the table cannot take (a day/hour field that is not a Date, an object). */
  #partitionProblem(row: Row): string | undefined {
    for (const p of this.#options.partitions) {
      const value = row[p.source]
      if (value === null || value === undefined) continue
      if (p.transform !== 'identity' && !(value instanceof Date && !Number.isNaN(value.getTime())))
        return `field ${showName(p.source)}: partition transform ${p.transform} needs a Date`
      if (p.transform === 'identity' && typeof value === 'object' && !(value instanceof Date))
        return `field ${showName(p.source)}: an object or array cannot be a partition value`
    }
    return undefined
  }

  rejected(batch: OutputBatch<T>): readonly DeadLetter[] {
    return this.#rejected?.batch === batch ? this.#rejected.letters : []
  }

  async commit(batch: OutputBatch<T>, context: SinkCommitContext): Promise<void> {
    if (batch.rows.length === 0) return
    const staged = this.#staged
    if (staged?.batchId !== batch.batchId)
      throw new SluiceError(
        'SLUICE_LAKE_STATE',
        `lake: batch ${batch.batchId} was not written before commit.`,
        {
          domain: 'internal',
        },
      )
    this.#staged = undefined
    if (staged.committedEnd) {
      if (staged.committedEnd !== 'expired' && !samePositions(staged.committedEnd, context.next))
        throw new UsageError(
          `lake: ${this.description} already holds batch ${batch.batchId} of writer "${this.#writer}" for other input: the pipeline's checkpoint was reset. Write to a new table or give lake({ writerId }) a new id.`,
        )
      return
    }
    if (staged.files.length === 0) return
    await this.#commitSnapshot(staged, context.next)
  }

  async #commitSnapshot(staged: Staged, end: Positions): Promise<void> {
    const columns = staged.columns as TableColumns
    const spec = staged.spec as PartitionSpec
    const typedOn = this.#metadata ? currentSchema(this.#metadata)['schema-id'] : undefined
    const manifestKey = `metadata/${randomUUID()}-m0.avro`
    let manifest: Uint8Array | undefined
    for (let attempt = 1; ; attempt++) {
      const base = this.#metadata
      if (base && (this.#location !== staged.base || currentSchema(base)['schema-id'] !== typedOn)) {
        // Another writer committed since this batch was typed: fine unless it changed the schema.
        if (currentSchema(base)['schema-id'] !== typedOn || base['last-column-id'] !== columnsBase(staged))
          throw conflict(
            this.description,
            staged.batchId,
            'another writer changed the table schema meanwhile',
          )
      }
      const schema = nextSchema(base, columns)
      manifest ??= await encodeManifest(staged.files, spec, schema)
      if (attempt === 1) await this.#options.storage.put(manifestKey, manifest)
      const parent = base ? currentSnapshot(base) : undefined
      const sequenceNumber = (base?.['last-sequence-number'] ?? 0) + 1
      const snapshotId = randomInt(1, 2 ** 47)
      const own = manifestListEntry({
        path: this.#files.uri(manifestKey),
        length: manifest.length,
        specId: spec['spec-id'],
        snapshotId,
        sequenceNumber,
        files: staged.files,
      })
      const manifests = [own, ...(parent ? await this.#parentManifests(parent['manifest-list']) : [])]
      const listKey = `metadata/snap-${snapshotId}-${attempt}-${randomUUID()}.avro`
      await this.#options.storage.put(
        listKey,
        await encodeManifestList(manifests, {
          id: snapshotId,
          parentId: parent?.['snapshot-id'],
          sequenceNumber,
        }),
      )
      const now = Date.now()
      const added = {
        files: staged.files.length,
        rows: sum(staged.files, 'rows'),
        bytes: sum(staged.files, 'bytes'),
      }
      const total = (key: string, n: number) => String(Number(parent?.summary[key] ?? 0) + n)
      const snapshot = {
        'snapshot-id': snapshotId,
        ...(parent ? { 'parent-snapshot-id': parent['snapshot-id'] } : {}),
        'sequence-number': sequenceNumber,
        'timestamp-ms': now,
        'manifest-list': this.#files.uri(listKey),
        'schema-id': schema['schema-id'],
        summary: {
          operation: 'append',
          'added-data-files': String(added.files),
          'added-records': String(added.rows),
          'added-files-size': String(added.bytes),
          'changed-partition-count': String(
            new Set(staged.files.map((f) => JSON.stringify(f.partition))).size,
          ),
          'total-records': total('total-records', added.rows),
          'total-files-size': total('total-files-size', added.bytes),
          'total-data-files': total('total-data-files', added.files),
          'total-delete-files': '0',
          'total-position-deletes': '0',
          'total-equality-deletes': '0',
          [WRITER_KEY]: this.#writer,
          [BATCH_KEY]: String(staged.batchId),
          [END_KEY]: JSON.stringify(end),
        },
      }
      const metadata = withWriterPosition(
        nextMetadata(base, this.#location, this.#files.location, schema, spec, columns, snapshot, now),
        this.#writer,
        { batchId: staged.batchId, end },
      )
      const version = base ? metadataVersion(this.#location as string) + 1 : 0
      const metadataKey = `metadata/${String(version).padStart(5, '0')}-${randomUUID()}.metadata.json`
      await this.#options.storage.put(metadataKey, Buffer.from(JSON.stringify(metadata, null, 1)))
      const uri = this.#files.uri(metadataKey)
      const swapped = this.#location
        ? await this.#catalog.swap(this.#location, uri)
        : await this.#catalog.create(uri)
      if (swapped) {
        this.#metadata = metadata
        this.#location = uri
        this.#manifests = manifests
        this.#own = { batchId: staged.batchId, end }
        return
      }
      // The commit point was not ours: the files written for this attempt are referenced by nothing.
      await this.#options.storage.delete(listKey)
      await this.#options.storage.delete(metadataKey)
      if (attempt >= MAX_ATTEMPTS)
        throw conflict(this.description, staged.batchId, 'other writers keep committing first')
      await this.#reload()
    }
  }

  async #parentManifests(listUri: string): Promise<ManifestListEntry[]> {
    this.#manifests ??= await decodeManifestList(await this.#files.read(listUri))
    return this.#manifests
  }

  async abort(batch: OutputBatch<T>): Promise<void> {
    const staged = this.#staged
    this.#staged = undefined
    if (staged?.batchId === batch.batchId)
      for (const key of staged.keys) await this.#options.storage.delete(key)
  }

  async hasCommitted(batch: { readonly batchId: number; readonly end: Positions }): Promise<boolean> {
    const end = this.#committedEnd(batch.batchId)
    return end === 'expired' || (end !== undefined && samePositions(end, batch.end))
  }

  async committedPosition(): Promise<{ batchId: number; positions: Positions } | undefined> {
    return this.#own ? { batchId: this.#own.batchId, positions: this.#own.end } : undefined
  }

  async close(): Promise<void> {
    try {
      await this.#encoder.close()
    } finally {
      this.#catalog.close()
      if (this.#options.ownsStorage) this.#options.storage.close?.()
    }
  }
}

function columnsBase(staged: Staged): number {
  const columns = staged.columns as TableColumns
  return columns.lastId - columns.added.length
}

function nextSchema(base: TableMetadata | undefined, columns: TableColumns): IcebergSchema {
  if (base && columns.added.length === 0) return currentSchema(base)
  const id = base ? Math.max(...base.schemas.map((s) => s['schema-id'])) + 1 : 0
  return { type: 'struct', 'schema-id': id, fields: columns.fields() }
}

function nextMetadata(
  base: TableMetadata | undefined,
  baseLocation: string | undefined,
  location: string,
  schema: IcebergSchema,
  spec: PartitionSpec,
  columns: TableColumns,
  snapshot: TableMetadata['snapshots'][number],
  now: number,
): TableMetadata {
  const schemas = base ? base.schemas : []
  return {
    'format-version': 2,
    'table-uuid': base?.['table-uuid'] ?? randomUUID(),
    location: base?.location ?? location,
    'last-sequence-number': snapshot['sequence-number'],
    'last-updated-ms': now,
    'last-column-id': Math.max(base?.['last-column-id'] ?? 0, columns.lastId),
    schemas: schemas.some((s) => s['schema-id'] === schema['schema-id']) ? schemas : [...schemas, schema],
    'current-schema-id': schema['schema-id'],
    'partition-specs': base ? base['partition-specs'] : [spec],
    'default-spec-id': spec['spec-id'],
    'last-partition-id':
      base?.['last-partition-id'] ?? Math.max(999, ...spec.fields.map((f) => f['field-id'])),
    properties: base?.properties ?? { 'write.format.default': 'parquet' },
    'current-snapshot-id': snapshot['snapshot-id'],
    snapshots: [...(base?.snapshots ?? []), snapshot],
    'snapshot-log': [
      ...(base?.['snapshot-log'] ?? []),
      { 'snapshot-id': snapshot['snapshot-id'], 'timestamp-ms': now },
    ],
    'metadata-log': baseLocation
      ? [
          ...(base?.['metadata-log'] ?? []),
          { 'metadata-file': baseLocation, 'timestamp-ms': base?.['last-updated-ms'] ?? now },
        ]
      : [],
    'sort-orders': base?.['sort-orders'] ?? [{ 'order-id': 0, fields: [] }],
    'default-sort-order-id': base?.['default-sort-order-id'] ?? 0,
    refs: { ...base?.refs, main: { 'snapshot-id': snapshot['snapshot-id'], type: 'branch' } },
  }
}

function sum(files: readonly DataFile[], key: 'rows' | 'bytes'): number {
  return files.reduce((n, f) => n + f[key], 0)
}

function conflict(description: string, batchId: number, why: string): SluiceError {
  return new SluiceError(
    'SLUICE_LAKE_CONFLICT',
    `lake: ${description}: could not commit batch ${batchId}: ${why}.`,
    {
      domain: 'external',
      retryable: true,
    },
  )
}

function samePositions(a: Positions, b: Positions): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k])
}
