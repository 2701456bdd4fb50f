import type { RowType } from '../../../plan/row-type.ts'
import { asciiLower, showName } from '../../sql/index.ts'
import { type ColumnKind, type ColumnSpec, kindOf } from '../schema.ts'
import type { IcebergField, IcebergSchema, IcebergType } from './metadata.ts'

/**
 * The columns of an Iceberg table as rows arrive. A column's type is fixed by the first value it gets (the
 * table is typed, unlike a Parquet folder): a later value of another type makes its row a dead letter rather
 * than a column whose files disagree. Objects and arrays are kept as JSON text in a string column whose doc
 * says so (JSON_DOC), so that a restart (or another reader) knows to parse them. A field that was only ever
 * null gets no column until a value arrives (readers see null for it either way).
 */
export const JSON_DOC = 'sluice: JSON text'

type Row = Readonly<Record<string, unknown>>

export interface TableColumn {
  readonly id: number
  readonly name: string
  readonly type: IcebergType
  readonly json: boolean
}

function columnOf(kind: ColumnKind): { type: IcebergType; json: boolean } {
  switch (kind) {
    case 'boolean':
      return { type: 'boolean', json: false }
    case 'int32':
    case 'int64':
    case 'bigint':
      return { type: 'long', json: false }
    case 'double':
      return { type: 'double', json: false }
    case 'string':
      return { type: 'string', json: false }
    case 'timestamp':
      return { type: 'timestamptz', json: false }
    default:
      return { type: 'string', json: true }
  }
}

/** Why `value` cannot go into `column`, or undefined. */
function mismatch(column: TableColumn, value: unknown): string | undefined {
  if (column.json) return undefined
  const fits =
    column.type === 'string'
      ? typeof value === 'string'
      : column.type === 'boolean'
        ? typeof value === 'boolean'
        : column.type === 'double'
          ? typeof value === 'number'
          : column.type === 'long'
            ? (typeof value === 'number' && Number.isSafeInteger(value) && !Object.is(value, -0)) ||
              (typeof value === 'bigint' && BigInt.asIntN(64, value) === value)
            : value instanceof Date && !Number.isNaN(value.getTime())
  if (fits) return undefined
  const shown = value instanceof Date ? 'an invalid Date' : Array.isArray(value) ? 'an array' : typeof value
  return `field ${showName(column.name)}: the table's column is ${column.type}, the value is ${shown}`
}

export class TableColumns {
  readonly #byName = new Map<string, TableColumn>()
  /** Column names as DuckDB (which writes the files) compares them → the spelling in use. */
  readonly #folded = new Map<string, string>()
  readonly #max: number
  #lastId: number
  readonly added: TableColumn[] = []

  constructor(schema: IcebergSchema | undefined, lastColumnId: number, max: number) {
    this.#max = max
    this.#lastId = lastColumnId
    for (const field of schema?.fields ?? []) {
      if (typeof field.type !== 'string') continue // a nested column of a table made elsewhere: never written
      this.#add({ id: field.id, name: field.name, type: field.type, json: field.doc === JSON_DOC })
    }
  }

  get lastId(): number {
    return this.#lastId
  }

  get(name: string): TableColumn | undefined {
    return this.#byName.get(name)
  }

  #add(column: TableColumn): void {
    this.#byName.set(column.name, column)
    this.#folded.set(asciiLower(column.name), column.name)
  }

  /** A column for a partition source field no row has a value for yet. */
  ensure(name: string, type: IcebergType): TableColumn {
    const existing = this.#byName.get(name)
    if (existing) return existing
    const column = { id: ++this.#lastId, name, type, json: false }
    this.#add(column)
    this.added.push(column)
    return column
  }

  /** Takes the row's values as they are typed (adding columns for new fields), or says why it cannot. */
  admit(row: Row, rowType: RowType | undefined): string | undefined {
    const fresh: TableColumn[] = []
    for (const name in row) {
      const value = row[name]
      if (value === undefined || value === null) continue
      const column = this.#byName.get(name) ?? fresh.find((c) => c.name === name)
      if (column) {
        const problem = mismatch(column, value)
        if (problem !== undefined) return problem
        continue
      }
      const other = this.#folded.get(asciiLower(name))
      if (other !== undefined)
        return `field ${showName(name)} and column ${showName(other)} differ only in case, which the Parquet writer (DuckDB) does not tell apart`
      fresh.push({
        id: this.#lastId + fresh.length + 1,
        name,
        ...columnOf(kindOf(value, rowType?.fields.get(name))),
      })
    }
    if (fresh.length === 0) return undefined
    if (this.#byName.size + fresh.length > this.#max)
      return `the row's new field(s) ${fresh.map((c) => showName(c.name)).join(', ')} would give the table more than ${this.#max} columns (maxColumns)`
    for (const column of fresh) {
      this.#add(column)
      this.added.push(column)
    }
    this.#lastId += fresh.length
    return undefined
  }

  /** Every column, in id order, as a schema's fields. */
  fields(): IcebergField[] {
    return [...this.#byName.values()]
      .sort((a, b) => a.id - b.id)
      .map((c) => ({
        id: c.id,
        name: c.name,
        required: false,
        type: c.type,
        ...(c.json ? { doc: JSON_DOC } : {}),
      }))
  }

  /** The Parquet columns of a data file holding `rows`: the table's columns that have a value there. */
  fileColumns(rows: readonly Row[]): { columns: ColumnSpec[]; fieldIds: Map<string, number> } {
    const present = new Set<string>()
    for (const row of rows)
      for (const name in row) if (row[name] !== undefined && row[name] !== null) present.add(name)
    const chosen = [...present]
      .map((name) => this.#byName.get(name) as TableColumn)
      .sort((a, b) => a.id - b.id)
    return {
      columns: chosen.map((c) => ({ name: c.name, kind: kindFor(c), absent: 'null' })),
      fieldIds: new Map(chosen.map((c) => [c.name, c.id])),
    }
  }
}

function kindFor(column: TableColumn): ColumnKind {
  if (column.json) return 'json'
  switch (column.type) {
    case 'long':
      return 'int64'
    case 'timestamptz':
      return 'timestamp'
    default:
      return column.type
  }
}
