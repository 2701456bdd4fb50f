import type { PoolConnection } from 'mysql2/promise'
import { UsageError } from '../../errors.ts'
import { MySqlError } from './errors.ts'
import type { MySqlSettings } from './options.ts'
import {
  addColumnsSql,
  combineKinds,
  createTableSql,
  describeTable,
  type FieldSpec,
  fitProblems,
  type Inferred,
  kindOf,
  sqlTypeFor,
  type TableInfo,
  type ValueKind,
} from './schema.ts'
import { checkIdentifier, quoteId } from './sql.ts'
import { type Converter, converterFor } from './values.ts'

/**
 * The target table as the sink knows it: read at open, created or given columns (createTable) as fields
 * appear, each new field checked once; and the INSERT's columns, converters and statement texts.
 */
export class MySqlTable {
  readonly #settings: MySqlSettings
  readonly #database: string
  readonly #keyCollation: string
  /** The table as last read; undefined while it does not exist (createTable, no rows with values yet). */
  #table: TableInfo | undefined
  /** NOT NULL columns were checked against the first rows' fields. */
  #checkedRequired = false
  /** Fields known to be columns, and the INSERT's columns: those fields in table order. */
  readonly #fields = new Set<string>()
  #columns: string[] = []
  #converters: Converter[] = []
  readonly #statements = new Map<number, string>()

  constructor(settings: MySqlSettings, database: string, keyCollation: string) {
    this.#settings = settings
    this.#database = database
    this.#keyCollation = keyCollation
  }

  get target(): string {
    return `${quoteId(this.#database)}.${quoteId(this.#settings.table)}`
  }

  /** The INSERT's columns, in table order. */
  get columns(): readonly string[] {
    return this.#columns
  }

  get converters(): readonly Converter[] {
    return this.#converters
  }

  /** At open: what does not depend on the rows shows now (the engine, the upsert key, declared types). */
  async open(conn: PoolConnection): Promise<void> {
    const { createTable, mode, key } = this.#settings
    const table = await describeTable(conn, this.#database, this.#settings.table)
    if (!table && !createTable)
      throw new UsageError(
        `mysql(): table ${this.target} does not exist; create it, or pass createTable: true to create it from the rows.`,
      )
    if (!table) return
    const declared = new Map<string, FieldSpec>()
    for (const [name, type] of this.#settings.declared)
      if (table.columns.has(name) || !createTable) declared.set(name, { declared: type })
    const problems = fitProblems(table, { fields: declared, mode, key, required: false })
    if (problems.length > 0) throw this.#misfit(problems)
    this.#table = table
  }

  /** Fields of the rows not yet known as columns, with what their values are. */
  newFields(rows: readonly unknown[]): Map<string, Inferred> {
    const fresh = new Map<string, { kind: ValueKind; seen: Set<ValueKind> }>()
    for (const row of rows) {
      if (row === null || typeof row !== 'object' || Array.isArray(row)) continue
      const record = row as Record<string, unknown>
      for (const field in record) {
        if (this.#fields.has(field)) continue
        const kind = kindOf(record[field])
        const known = fresh.get(field)
        if (!known) fresh.set(field, { kind, seen: new Set([kind]) })
        else {
          known.kind = combineKinds(known.kind, kind)
          known.seen.add(kind)
        }
      }
    }
    return fresh
  }

  /**
   * Before the batch's transaction (DDL commits implicitly): fields not seen before are checked against the
   * table, which is created (createTable, from `columns` and the values) or given nullable columns for them
   * (createTable) or found not to fit (an error listing every misfit). Fields that are only null so far wait
   * until they carry a value.
   */
  async prepare(conn: PoolConnection, fresh: ReadonlyMap<string, Inferred>): Promise<void> {
    const { declared: declaredTypes, key, mode, createTable } = this.#settings
    const typeOf = (name: string, spec: Inferred) =>
      declaredTypes.get(name) ?? sqlTypeFor(spec.kind, key.includes(name), this.#keyCollation)
    let table = this.#table
    if (!table) {
      // The rows' fields in their order, then declared columns the rows do not have (yet).
      const defs = new Map<string, string>()
      for (const [name, spec] of fresh)
        if (spec.kind !== 'null' || key.includes(name) || declaredTypes.has(name))
          defs.set(name, typeOf(name, spec))
      for (const [name, type] of declaredTypes) if (!defs.has(name)) defs.set(name, type)
      if (defs.size === 0) return
      const missingKey = key.filter((k) => !defs.has(k))
      if (missingKey.length > 0)
        throw new UsageError(
          `mysql(): the key field(s) ${missingKey.map(quoteId).join(', ')} are neither in the rows nor in columns, so ${this.target} cannot be created.`,
        )
      for (const name of defs.keys()) checkIdentifier(name, 'column')
      await conn.query(createTableSql(this.#settings.table, [...defs], key))
      table = await describeTable(conn, this.#database, this.#settings.table)
      if (!table) throw new MySqlError(`mysql(): ${this.target} is missing right after CREATE TABLE`)
    }
    // Misfits: a field no column takes, values no column of its type takes, the upsert key, NOT NULL columns.
    // With createTable, fields the table lacks get a column instead, once the rest fits.
    const fields = new Map<string, FieldSpec>()
    const lacking: [string, string][] = []
    for (const [name, spec] of fresh) {
      if (spec.kind === 'null' && !table.columns.has(name)) continue
      if (!table.columns.has(name) && createTable) lacking.push([name, typeOf(name, spec)])
      else fields.set(name, declaredTypes.has(name) ? { declared: declaredTypes.get(name)! } : spec)
    }
    const required = !this.#checkedRequired
    const problems = fitProblems(table, { fields, mode, key, required })
    if (problems.length > 0) throw this.#misfit(problems)
    if (lacking.length > 0) {
      for (const [name] of lacking) checkIdentifier(name, 'column')
      await conn.query(addColumnsSql(this.#settings.table, lacking))
      table = await describeTable(conn, this.#database, this.#settings.table)
      if (!table) throw new MySqlError(`mysql(): ${this.target} is missing right after ALTER TABLE`)
    }
    this.#checkedRequired = true
    this.#table = table
    for (const name of [...fields.keys(), ...lacking.map(([name]) => name)]) this.#addColumn(name)
  }

  /** A multi-row INSERT (… ON DUPLICATE KEY UPDATE for upsert) of `rows` rows, cached per row count. */
  insertSql(rows: number): string {
    let sql = this.#statements.get(rows)
    if (sql) return sql
    const names = this.#columns.map(quoteId).join(', ')
    const tuple = `(${this.#columns.map(() => '?').join(', ')})`
    sql = `INSERT INTO ${quoteId(this.#settings.table)} (${names}) VALUES ${new Array(rows).fill(tuple).join(', ')}`
    if (this.#settings.mode === 'upsert') {
      const update = this.#columns.filter((c) => !this.#settings.key.includes(c))
      const set = (update.length > 0 ? update : this.#columns.slice(0, 1)).map(
        (c) => `${quoteId(c)} = VALUES(${quoteId(c)})`,
      )
      sql += ` ON DUPLICATE KEY UPDATE ${set.join(', ')}`
    }
    this.#statements.set(rows, sql)
    return sql
  }

  #misfit(problems: readonly string[]): UsageError {
    const fix = this.#settings.createTable
      ? 'Alter the table or write to another one.'
      : 'Alter the table, write to another one, or pass createTable: true to add columns for new fields.'
    return new UsageError(
      `mysql(): table ${this.target} does not fit the rows:\n${problems.map((p) => `  - ${p}`).join('\n')}\n${fix}`,
    )
  }

  /** A field that is a column: the INSERT names it from now on, in table order (stable statement text). */
  #addColumn(field: string): void {
    if (this.#fields.has(field)) return
    this.#fields.add(field)
    const order = [...this.#table!.columns.keys()]
    this.#columns = [...this.#columns, field].sort((a, b) => order.indexOf(a) - order.indexOf(b))
    this.#converters = this.#columns.map((c) => converterFor(this.#table!.columns.get(c)!))
    this.#statements.clear()
  }
}
