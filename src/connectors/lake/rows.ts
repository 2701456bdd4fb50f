import type { DeadLetter } from '../../runtime/sink.ts'
import { asciiLower, basicNameProblem, notARow, showName, sinkDeadLetter } from '../sql/index.ts'
import type { LakeFormat } from './log.ts'
import { type PartitionValues, partitionPath } from './partition.ts'

/**
 * Rows the lake cannot store become dead letters with the reason instead of stopping the pipeline: a row
 * that is not an object; for Parquet a field name no column can have (DuckDB, which writes the files, takes
 * no NUL or empty name, and "name" and "NAME" for one column), or one past `maxColumns`; a value nested
 * deeper than MAX_NESTING; for JSON lines a bigint (JSON has none).
 */

/**
 * Default of `maxColumns`, the most columns a data file gets: PostgreSQL's limit, so a lake table fits a
 * warehouse table. Writing a file's columns costs with its width (2000 columns: 0.5 s per 100-row batch,
 * 8000: 4 s), and a record of 100,000 fields took minutes and gigabytes before it was refused.
 */
export const DEFAULT_MAX_COLUMNS = 1600

/**
 * Values nested deeper than this are refused: spooled batches (rollInterval) are kept with v8 serialization,
 * which reads back about 1,600 levels (JSON.stringify writes about 4,400), so a deeper value would be
 * accepted and then stop every later roll.
 */
export const MAX_NESTING = 1000

/** Objects visited at most when measuring a value's nesting: a value sharing parts is not walked forever. */
const MAX_VISITS = 1_000_000

/** Why the lake cannot store this row, whatever the other rows, or undefined. */
export function rowProblem(row: unknown, format: LakeFormat): string | undefined {
  const problem = notARow(row)
  if (problem !== undefined) return problem
  const record = row as Readonly<Record<string, unknown>>
  for (const name in record) {
    const value = record[name]
    if (value === undefined) continue
    if (format === 'parquet') {
      const nameProblem = basicNameProblem(name)
      if (nameProblem !== undefined) return `field ${showName(name)}: ${nameProblem}`
    }
    if (format === 'jsonl' && typeof value === 'bigint')
      return `field ${showName(name)}: a bigint cannot be written as JSON`
    if (
      typeof value === 'object' &&
      value !== null &&
      !(value instanceof Date) &&
      !(value instanceof Uint8Array)
    ) {
      const nesting = nestingProblem(value, format === 'jsonl')
      if (nesting !== undefined) return `field ${showName(name)}: ${nesting}`
    }
  }
  return undefined
}

/**
 * Walks a value without recursion: too deep (a circular value always is), too many parts, or (for JSON
 * lines) a bigint inside.
 */
function nestingProblem(value: object, noBigints: boolean): string | undefined {
  const stack: { readonly value: object; readonly depth: number }[] = [{ value, depth: 1 }]
  let visits = 0
  while (stack.length > 0) {
    const { value: node, depth } = stack.pop()!
    if (depth > MAX_NESTING) return `the value is nested deeper than ${MAX_NESTING} levels (or circular)`
    if (++visits > MAX_VISITS) return `the value has more than ${MAX_VISITS} nested objects and arrays`
    const children = Array.isArray(node) ? node : Object.values(node)
    for (const child of children) {
      if (typeof child === 'bigint' && noBigints) return 'a bigint inside cannot be written as JSON'
      if (
        typeof child === 'object' &&
        child !== null &&
        !(child instanceof Date) &&
        !(child instanceof Uint8Array)
      )
        stack.push({ value: child, depth: depth + 1 })
    }
  }
  return undefined
}

/**
 * The columns of one data file as its rows arrive: a row whose fields would give the file more than
 * `max` columns, or a column DuckDB takes for another (names that differ only in ASCII case), is refused.
 */
export class FileColumns {
  readonly #max: number
  /** Column names as DuckDB compares them → the spelling in use. */
  readonly #folded = new Map<string, string>()

  constructor(max: number, existing: Iterable<string> = []) {
    this.#max = max
    for (const name of existing) this.#folded.set(asciiLower(name), name)
  }

  get size(): number {
    return this.#folded.size
  }

  /** Takes the row's fields as columns, or says why not (and takes none of them). */
  admit(row: Readonly<Record<string, unknown>>): string | undefined {
    let added: Map<string, string> | undefined
    for (const name in row) {
      if (row[name] === undefined) continue
      const fold = asciiLower(name)
      const other = this.#folded.get(fold) ?? added?.get(fold)
      if (other !== undefined) {
        if (other !== name)
          return `field ${showName(name)} and ${this.#folded.has(fold) ? 'column' : 'field'} ${showName(other)} differ only in case, which the Parquet writer (DuckDB) does not tell apart`
        continue
      }
      added ??= new Map()
      added.set(fold, name)
    }
    if (!added) return undefined
    if (this.#folded.size + added.size > this.#max) {
      const names = [...added.values()]
      const shown =
        names.slice(0, 5).map(showName).join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '')
      return `the row's new field(s) ${shown} would give the data file more than ${this.#max} columns (maxColumns; it has ${this.#folded.size})`
    }
    for (const [fold, name] of added) this.#folded.set(fold, name)
    return undefined
  }
}

/** A batch's rows by partition folder, with the columns each folder's file will have. */
export interface RowGroup<T> {
  readonly values: PartitionValues
  readonly rows: T[]
  readonly columns: FileColumns
}

/**
 * A batch's rows by partition folder; a row the lake cannot store (not an object, a field name no Parquet
 * column can have, past maxColumns, nested too deeply) becomes a dead letter instead.
 */
export function groupRows<T>(
  rows: readonly T[],
  options: {
    readonly format: LakeFormat
    readonly partitionOf: ((row: T) => PartitionValues) | undefined
    readonly maxColumns: number
  },
): { groups: Map<string, RowGroup<T>>; letters: DeadLetter[] } {
  const groups = new Map<string, RowGroup<T>>()
  const letters: DeadLetter[] = []
  const refuse = (row: unknown, reason: string) => letters.push(sinkDeadLetter('sink', reason, row, null))
  for (const row of rows) {
    const problem = rowProblem(row, options.format)
    if (problem !== undefined) {
      refuse(row, problem)
      continue
    }
    const values = options.partitionOf?.(row) ?? {}
    const path = partitionPath(values)
    let group = groups.get(path)
    if (!group) {
      group = { values, rows: [], columns: new FileColumns(options.maxColumns) }
      groups.set(path, group)
    }
    if (options.format === 'parquet') {
      const reason = group.columns.admit(row as Record<string, unknown>)
      if (reason !== undefined) {
        refuse(row, reason)
        continue
      }
    }
    group.rows.push(row)
  }
  for (const [path, group] of groups) if (group.rows.length === 0) groups.delete(path)
  return { groups, letters }
}
