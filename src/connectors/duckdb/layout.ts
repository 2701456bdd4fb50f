import type { DuckDBConnection, DuckDBType } from '@duckdb/node-api'
import { UsageError } from '../../errors.ts'
import { duckdbMessage, quoteIdentifier } from './database.ts'
import type { DuckDBSettings } from './options.ts'
import {
  accepts,
  describeKinds,
  describeTable,
  inferSqlType,
  type Kind,
  kindOf,
  type TableDescription,
  tableName,
} from './schema.ts'

/** A column as the next transaction leaves the table. */
export interface Column {
  readonly name: string
  readonly sqlType: string
  readonly type: DuckDBType
  readonly nullable: boolean
  readonly hasDefault: boolean
}

/** How a batch's rows go into the table. */
export interface Layout {
  /** Statements run first in the transaction: CREATE TABLE, ALTER TABLE. */
  readonly ddl: readonly string[]
  /** The table's columns after the DDL, in table order. */
  readonly columns: readonly Column[]
  /** The columns the rows fill. */
  readonly written: readonly Column[]
  /** Straight into the table with the appender; otherwise into a temporary stage, then INSERT … SELECT. */
  readonly direct: boolean
}

/**
 * The target table as the sink knows it, and for each batch how its rows go in: the columns, the DDL the rows
 * need (a created table, added columns, a BIGINT widened to DOUBLE) and whether they fit.
 */
export class TableLayouts {
  readonly #settings: DuckDBSettings
  readonly #conn: DuckDBConnection
  /** What DuckDB has for the table; undefined: ask again (also after every rollback, which may undo DDL). */
  #described: TableDescription | null | undefined
  /** Columns already checked against the rows' kinds for the current description. */
  #checked = new Set<string>()
  #types = new Map<string, DuckDBType>()
  /** `columns` with each type as DuckDB names it (TIMESTAMPTZ → TIMESTAMP WITH TIME ZONE, json → JSON). */
  #declared = new Map<string, string>()

  constructor(settings: DuckDBSettings, conn: DuckDBConnection) {
    this.#settings = settings
    this.#conn = conn
  }

  get #target(): string {
    return tableName(this.#settings.schema, this.#settings.table)
  }

  /** Forget the table's description: a rollback may have undone DDL, a commit applied it. */
  forget(): void {
    this.#described = undefined
  }

  /** Works out the columns, the DDL the rows need and whether they fit; mismatches are a UsageError. */
  async layout(rows: readonly Readonly<Record<string, unknown>>[]): Promise<Layout> {
    const s = this.#settings
    if (this.#described === undefined) {
      this.#described = (await describeTable(this.#conn, s.schema, s.table)) ?? null
      this.#checked = new Set()
    }
    const described = this.#described
    // Fields holding a value in some row, in the order fields first appear (null or not): the column order.
    const seen = new Set<string>()
    const valued = new Set<string>()
    for (const row of rows) {
      for (const k in row) {
        seen.add(k)
        if (row[k] !== null && row[k] !== undefined) valued.add(k)
      }
    }
    const present = new Set([...seen].filter((k) => valued.has(k)))

    if (!described) {
      if (!s.createTable)
        throw new UsageError(
          `DuckDB sink: table ${s.schema}.${s.table} does not exist in ${s.location} (createTable is false).`,
        )
      const columns: Column[] = []
      if (s.columns) {
        for (const name of Object.keys(s.columns))
          columns.push(await this.#column(name, this.#declared.get(name) ?? s.columns[name]!))
      } else {
        const names = [...s.keyColumns, ...[...present].filter((n) => !s.keyColumns.includes(n))]
        for (const name of names) columns.push(await this.#column(name, inferSqlType(kindsOf(rows, name))))
      }
      if (columns.length === 0)
        throw new UsageError(
          `DuckDB sink: cannot create table ${s.schema}.${s.table}: the rows have no field with a value.`,
        )
      const keys =
        s.keyColumns.length > 0 ? `, PRIMARY KEY (${s.keyColumns.map(quoteIdentifier).join(', ')})` : ''
      const ddl = `CREATE TABLE IF NOT EXISTS ${this.#target} (${columns
        .map((c) => `${quoteIdentifier(c.name)} ${c.sqlType}`)
        .join(', ')}${keys})`
      return { ddl: [ddl], columns, written: columns, direct: s.mode === 'append' }
    }

    const mismatches: string[] = []
    const ddl: string[] = []
    const columns: Column[] = described.columns.map((c) => ({ ...c }))
    const byName = new Map(columns.map((c, i) => [c.name, i]))
    const wanted = s.columns ? Object.keys(s.columns) : [...present]
    for (const name of wanted) {
      const index = byName.get(name)
      if (index === undefined) {
        if (s.columns) continue // reported by #checkDeclaredColumns at open
        if (!s.managed) {
          mismatches.push(
            `the rows have a field "${name}" the table lacks (add the column, list the wanted columns in ` +
              '`columns`, or let the sink manage the table with createTable: true)',
          )
          continue
        }
        const column = await this.#column(name, inferSqlType(kindsOf(rows, name)))
        ddl.push(`ALTER TABLE ${this.#target} ADD COLUMN ${quoteIdentifier(name)} ${column.sqlType}`)
        byName.set(name, columns.length)
        columns.push(column)
        continue
      }
      const column = columns[index]!
      if (s.columns) continue
      if (
        s.managed &&
        column.sqlType === 'BIGINT' &&
        !s.keyColumns.includes(name) &&
        rows.some((r) => typeof r[name] === 'number' && !Number.isInteger(r[name]))
      ) {
        // A sum that was whole so far: widen instead of rounding.
        ddl.push(`ALTER TABLE ${this.#target} ALTER COLUMN ${quoteIdentifier(name)} TYPE DOUBLE`)
        columns[index] = await this.#column(name, 'DOUBLE', column)
        continue
      }
      if (this.#checked.has(name)) continue
      // A column none of whose values can fit is a mismatch; single values that do not fit are bad rows.
      const kinds = kindsOf(rows, name)
      if (kinds.size > 0 && [...kinds].every((k) => !accepts(column, k)))
        mismatches.push(`column "${name}" is ${column.sqlType} but the rows hold ${describeKinds(kinds)}`)
      else this.#checked.add(name)
    }
    const written = columns.filter((c) => (s.columns ? c.name in s.columns : present.has(c.name)))
    const writtenNames = new Set(written.map((c) => c.name))
    for (const c of columns) {
      if (!writtenNames.has(c.name) && !c.nullable && !c.hasDefault && !s.keyColumns.includes(c.name))
        mismatches.push(
          `column "${c.name}" is NOT NULL without a default, but the rows have no field "${c.name}"`,
        )
    }
    for (const k of s.keyColumns)
      if (!byName.has(k)) mismatches.push(`the upsert key column "${k}" is missing`)
    if (s.mode === 'upsert') {
      const wantedKey = [...s.keyColumns].sort().join('\u0000')
      if (!described.uniqueKeys.some((u) => [...u].sort().join('\u0000') === wantedKey))
        mismatches.push(
          `upsert needs a PRIMARY KEY or UNIQUE constraint on (${s.keyColumns.join(', ')}); the table has none`,
        )
    }
    if (mismatches.length > 0) {
      this.#described = undefined
      throw new UsageError(
        `DuckDB sink: table ${s.schema}.${s.table} in ${s.location} does not fit the rows:\n- ${mismatches.join('\n- ')}`,
      )
    }
    for (const k of s.keyColumns) {
      if (!writtenNames.has(k)) {
        const c = columns[byName.get(k)!]!
        written.push(c)
        writtenNames.add(k)
      }
    }
    const direct =
      s.mode === 'append' && columns.every((c) => writtenNames.has(c.name) || (c.nullable && !c.hasDefault))
    // Written columns in table order (the stage and INSERT list follow it).
    const ordered = columns.filter((c) => writtenNames.has(c.name))
    return { ddl, columns, written: ordered, direct }
  }

  async #column(name: string, sqlType: string, base?: Column): Promise<Column> {
    return {
      name,
      sqlType,
      type: await this.#typeOf(sqlType),
      nullable: base?.nullable ?? !this.#settings.keyColumns.includes(name),
      hasDefault: base?.hasDefault ?? false,
    }
  }

  async #typeOf(sqlType: string): Promise<DuckDBType> {
    let type = this.#types.get(sqlType)
    if (!type) {
      const reader = await this.#conn.runAndReadAll(`SELECT CAST(NULL AS ${sqlType}) AS v LIMIT 0`)
      type = reader.columnTypes()[0]
      if (!type) throw new Error(`internal: no type for ${sqlType}`)
      this.#types.set(sqlType, type)
    }
    return type
  }

  /** `columns` against an existing table: every listed column must exist with the same type. */
  async checkDeclaredColumns(declared: Readonly<Record<string, string>>): Promise<void> {
    const s = this.#settings
    const canonical = this.#declared
    for (const [name, sqlType] of Object.entries(declared)) {
      try {
        const reader = await this.#conn.runAndReadAll(`SELECT typeof(CAST(NULL AS ${sqlType})) AS t`)
        canonical.set(name, String(reader.getRowObjectsJS()[0]?.t))
      } catch (error) {
        throw new UsageError(
          `DuckDB sink: columns.${name} = '${sqlType}' is not a DuckDB type: ${duckdbMessage(error)}`,
        )
      }
    }
    const described = await describeTable(this.#conn, s.schema, s.table)
    if (!described) return
    const mismatches: string[] = []
    for (const [name, type] of canonical) {
      const column = described.columns.find((c) => c.name === name)
      if (!column) mismatches.push(`column "${name}" (${type} in columns) is missing`)
      else if (column.sqlType !== type)
        mismatches.push(`column "${name}" is ${column.sqlType} in the table but ${type} in columns`)
    }
    for (const c of described.columns) {
      if (!canonical.has(c.name) && !c.nullable && !c.hasDefault)
        mismatches.push(`column "${c.name}" is NOT NULL without a default but not in columns`)
    }
    if (mismatches.length > 0)
      throw new UsageError(
        `DuckDB sink: table ${s.schema}.${s.table} in ${s.location} does not fit the declared columns:\n- ${mismatches.join('\n- ')}`,
      )
  }
}

export function asRecord(row: unknown): Readonly<Record<string, unknown>> {
  if (row !== null && typeof row === 'object' && !Array.isArray(row) && !(row instanceof Date))
    return row as Record<string, unknown>
  return { value: row }
}

function kindsOf(rows: readonly Readonly<Record<string, unknown>>[], name: string): Set<Kind> {
  const kinds = new Set<Kind>()
  for (const row of rows) {
    const kind = kindOf(row[name])
    if (kind) kinds.add(kind)
  }
  return kinds
}
