import { UsageError } from '../../../errors.ts'
import { partitionString } from '../partition.ts'
import type { TableColumns } from './columns.ts'
import {
  FIRST_PARTITION_FIELD_ID,
  type IcebergSchema,
  type PartitionSpec,
  type PartitionTransform,
} from './metadata.ts'

/** One partition field of lake({ format: 'iceberg', partitionBy }): a field name (identity) or a transform of one. */
export type IcebergPartitionBy = string | { readonly field: string; readonly transform: PartitionTransform }

const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000

/** A partition field resolved against the table's columns. */
export interface ResolvedPartition {
  readonly source: string
  readonly transform: PartitionTransform
  /** The partition field's name: the source's for identity, `<source>_day` / `<source>_hour` otherwise. */
  readonly name: string
}

export function resolvePartitions(partitionBy: readonly IcebergPartitionBy[]): ResolvedPartition[] {
  const out = partitionBy.map((p) => {
    const { field, transform } = typeof p === 'string' ? { field: p, transform: 'identity' as const } : p
    if (typeof field !== 'string' || field === '')
      throw new UsageError('lake(): an Iceberg partition field needs a field name.')
    if (!['identity', 'day', 'hour'].includes(transform))
      throw new UsageError(
        `lake(): partition transform must be "identity", "day" or "hour", got ${JSON.stringify(transform)}.`,
      )
    return { source: field, transform, name: transform === 'identity' ? field : `${field}_${transform}` }
  })
  const names = new Set(out.map((p) => p.name))
  if (names.size !== out.length) throw new UsageError('lake(): a partition field is given twice.')
  return out
}

/** The partition spec for a new table; partition source columns no row had yet are added (identity: string). */
export function newSpec(partitions: readonly ResolvedPartition[], columns: TableColumns): PartitionSpec {
  return {
    'spec-id': 0,
    fields: partitions.map((p, i) => {
      const column = columns.ensure(p.source, p.transform === 'identity' ? 'string' : 'timestamptz')
      if (p.transform !== 'identity' && column.type !== 'timestamptz')
        throw new UsageError(
          `lake(): partition transform ${p.transform} needs a timestamp column (JS Date values); ${p.source} is ${column.type}.`,
        )
      if (column.json)
        throw new UsageError(
          `lake(): ${p.source} holds objects or arrays (JSON text), which cannot partition a table.`,
        )
      return {
        'source-id': column.id,
        'field-id': FIRST_PARTITION_FIELD_ID + i,
        name: p.name,
        transform: p.transform,
      }
    }),
  }
}

/** Whether an existing table's spec is the one `partitions` asks for (Sluice does not evolve partitioning). */
export function sameSpec(
  spec: PartitionSpec,
  schema: IcebergSchema,
  partitions: readonly ResolvedPartition[],
): boolean {
  if (spec.fields.length !== partitions.length) return false
  return spec.fields.every((f, i) => {
    const p = partitions[i] as ResolvedPartition
    const source = schema.fields.find((c) => c.id === f['source-id'])
    return source?.name === p.source && f.transform === p.transform
  })
}

/** A row's partition: the values as the manifest stores them and the folder names `name=value`. */
export function partitionOf(
  row: Readonly<Record<string, unknown>>,
  partitions: readonly ResolvedPartition[],
): { values: unknown[]; folders: Record<string, string | null> } {
  const values: unknown[] = []
  const folders: Record<string, string | null> = {}
  for (const p of partitions) {
    const value = row[p.source]
    if (value === null || value === undefined) {
      values.push(null)
      folders[p.name] = null
    } else if (p.transform === 'identity') {
      values.push(
        typeof value === 'bigint' ? Number(value) : value instanceof Date ? value.getTime() * 1000 : value,
      )
      folders[p.name] = partitionString(value)
    } else {
      const ms = (value as Date).getTime()
      const unit = p.transform === 'day' ? DAY_MS : HOUR_MS
      const n = Math.floor(ms / unit)
      values.push(n)
      const iso = new Date(n * unit).toISOString()
      folders[p.name] = p.transform === 'day' ? iso.slice(0, 10) : `${iso.slice(0, 10)}-${iso.slice(11, 13)}`
    }
  }
  return { values, folders }
}
