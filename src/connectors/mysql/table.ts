import type { PoolConnection, RowDataPacket } from 'mysql2/promise'
import { UsageError } from '../../errors.ts'
import type { RowType } from '../../plan/row-type.ts'
import { notARow, showName } from '../sql/index.ts'
import { classify, MySqlError, rowMessage } from './errors.ts'
import type { MySqlSettings } from './options.ts'
import {
  addColumnsSql,
  type ColumnInfo,
  combineKinds,
  createTableSql,
  declaredSqlType,
  describeTable,
  type FieldSpec,
  fitProblems,
  type Inferred,
  kindOf,
  sqlTypeFor,
  type TableInfo,
  type ValueKind,
} from './schema.ts'
import { columnNameProblem, quoteId } from './sql.ts'
import { type Converter, converterFor } from './values.ts'

/** InnoDB's limit on a table's columns; the row size limit (8126 bytes inline) may stop a table earlier. */
export const MAX_COLUMNS = 1017

/** Doubles hold every integer up to 2^53 exactly: a BIGINT column with no value beyond widens losslessly. */
const EXACT_IN_DOUBLE = 9007199254740992

/**
 * DDL refused for what the columns are, not for the server's state: too many columns (1117, or 185 inside
 * 1005), a row too large (1118), a name (1059 too long, 1060 twice, 1166 incorrect, 1300 bad characters).
 */
const DDL_LIMITS = new Set([1005, 1059, 1060, 1117, 1118, 1166, 1300])

function isDdlLimit(error: unknown): boolean {
  const errno = (error as { errno?: unknown } | null)?.errno
  return typeof errno === 'number' && DDL_LIMITS.has(errno)
}

/**
 * Whether every field of the row with a value is a known column (its name checked, its values checked against
 * it when it was new): most rows, which then cost one set lookup per field.
 */
function onlySettled(record: Readonly<Record<string, unknown>>, settled: ReadonlySet<string>): boolean {
  for (const k in record) if (record[k] !== undefined && !settled.has(k)) return false
  return true
}

function listNames(names: readonly string[]): string {
  return (
    names.slice(0, 5).map(showName).join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '')
  )
}

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
  /** Field names seen, and why each cannot be a column (undefined: it can). */
  readonly #names = new Map<string, string | undefined>()
  #rowType: RowType | undefined
  /** Integer columns the sink found it cannot widen, and why: not tried again (each try scans the table). */
  readonly #unwidened = new Map<string, string>()

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
  async open(conn: PoolConnection, rowType: RowType | undefined): Promise<void> {
    const { createTable, mode, key } = this.#settings
    this.#rowType = rowType
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
    // A column an older version created from the first values (a whole-number sum as BIGINT) that the
    // schema now declares a number: widened before the first fraction arrives.
    for (const [name, type] of rowType?.fields ?? []) {
      const column = table.columns.get(name)
      if (type === 'number' && column?.family === 'integer' && this.#mayWiden(column))
        await this.#widen(conn, column)
    }
  }

  /**
   * Before the batch's transaction (DDL commits implicitly): the rows the table cannot take, by index with
   * the reason (a row that is not an object, a field name MariaDB refuses, new fields past the column limit,
   * a fraction for an integer column the sink may not widen). Fields not seen before are checked against the
   * table, which is created (createTable, from `columns`, the schema and the values) or given nullable
   * columns (createTable) or found not to fit (an error listing every misfit). Fields that are only null so
   * far wait until they carry a value.
   */
  async prepare(conn: PoolConnection, rows: readonly unknown[]): Promise<Map<number, string>> {
    const { createTable } = this.#settings
    const refused = new Map<number, string>()
    const known = this.#table?.columns
    // Column names as MariaDB compares them (case-insensitively), mapped to the spelling in use.
    const folded = new Map<string, string>()
    for (const name of known?.keys() ?? []) folded.set(name.toLowerCase(), name)
    const fresh = new Map<string, { kind: ValueKind; seen: Set<ValueKind> }>()
    /** Row index → the fields it brings that are no column yet, for the per-row DDL fallback. */
    const brings = new Map<number, string[]>()
    const budget = MAX_COLUMNS - (known?.size ?? 0)
    let planned = 0
    each: for (let i = 0; i < rows.length; i++) {
      const row = rows[i]
      const problem = notARow(row)
      if (problem !== undefined) {
        refused.set(i, problem)
        continue
      }
      const record = row as Record<string, unknown>
      if (onlySettled(record, this.#fields)) continue
      let added: string[] | undefined
      const spelled = new Map<string, string>()
      for (const field in record) {
        const value = record[field]
        if (value === undefined) continue
        const nameProblem = this.#nameProblem(field)
        if (nameProblem !== undefined) {
          refused.set(i, `field ${showName(field)}: ${nameProblem}`)
          continue each
        }
        const fold = field.toLowerCase()
        const other = folded.get(fold) ?? spelled.get(fold)
        if (other !== undefined && other !== field) {
          refused.set(
            i,
            `field ${showName(field)} and ${known?.has(other) ? 'column' : 'field'} ${showName(other)} differ only in case, and MariaDB column names ignore case`,
          )
          continue each
        }
        spelled.set(fold, field)
        if (!this.#fields.has(field) && !known?.has(field) && !fresh.has(field) && value !== null) {
          added ??= []
          added.push(field)
        }
      }
      if (added && createTable && planned + added.length > budget) {
        refused.set(
          i,
          `the row's new field(s) ${listNames(added)} would take ${this.target} past ${MAX_COLUMNS} columns, InnoDB's limit (it has ${MAX_COLUMNS - budget + planned})`,
        )
        continue
      }
      if (added) {
        planned += added.length
        brings.set(i, added)
      }
      for (const field in record) {
        const value = record[field]
        if (value === undefined || this.#fields.has(field)) continue
        folded.set(field.toLowerCase(), field)
        const kind = kindOf(value)
        const seen = fresh.get(field)
        if (!seen) fresh.set(field, { kind, seen: new Set([kind]) })
        else {
          seen.kind = combineKinds(seen.kind, kind)
          seen.seen.add(kind)
        }
      }
    }
    if (fresh.size > 0) await this.#addFields(conn, fresh, brings, refused)
    await this.#fractions(conn, rows, refused)
    return refused
  }

  /**
   * The new fields against the table: created (createTable) with them, given columns for them
   * (createTable), or a misfit. When the server refuses the DDL for a limit (too many columns, a row too
   * large, a name), the rows' columns are added row by row and the rows whose columns it refuses are
   * refused with its message.
   */
  async #addFields(
    conn: PoolConnection,
    fresh: ReadonlyMap<string, Inferred>,
    brings: ReadonlyMap<number, readonly string[]>,
    refused: Map<number, string>,
  ): Promise<void> {
    const { declared: declaredTypes, key, mode, createTable } = this.#settings
    const typeOf = (name: string, spec: Inferred) => this.#typeOf(name, spec)
    let table = this.#table
    if (!table) {
      // The rows' fields in their order, then declared columns and the schema's fields the rows lack (yet).
      const defs = new Map<string, string>()
      for (const [name, spec] of fresh)
        if (
          spec.kind !== 'null' ||
          key.includes(name) ||
          declaredTypes.has(name) ||
          this.#rowType?.fields.has(name)
        )
          defs.set(name, typeOf(name, spec))
      for (const [name, type] of declaredTypes) if (!defs.has(name)) defs.set(name, type)
      for (const [name, type] of this.#rowType?.fields ?? [])
        if (!defs.has(name) && defs.size < MAX_COLUMNS && this.#nameProblem(name) === undefined)
          defs.set(name, declaredSqlType(type, key.includes(name), this.#keyCollation))
      if (defs.size === 0) return
      const missingKey = key.filter((k) => !defs.has(k))
      if (missingKey.length > 0)
        throw new UsageError(
          `mysql(): the key field(s) ${missingKey.map(quoteId).join(', ')} are neither in the rows nor in columns, so ${this.target} cannot be created.`,
        )
      try {
        await conn.query(createTableSql(this.#settings.table, [...defs], key))
      } catch (error) {
        if (!isDdlLimit(error)) throw error
        // Created with what must be there (key and declared columns, or the first row that fits); the rest
        // of the rows' fields are added row by row below.
        const base = new Map([...defs].filter(([name]) => key.includes(name) || declaredTypes.has(name)))
        if (base.size > 0) await conn.query(createTableSql(this.#settings.table, [...base], key))
        else await this.#createFromARow(conn, fresh, brings, refused)
      }
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
    const added: string[] = []
    if (lacking.length > 0) {
      try {
        await conn.query(addColumnsSql(this.#settings.table, lacking))
        added.push(...lacking.map(([name]) => name))
      } catch (error) {
        if (!isDdlLimit(error)) throw error
        added.push(...(await this.#addRowByRow(conn, new Map(lacking), brings, refused)))
      }
      table = await describeTable(conn, this.#database, this.#settings.table)
      if (!table) throw new MySqlError(`mysql(): ${this.target} is missing right after ALTER TABLE`)
    }
    this.#checkedRequired = true
    this.#table = table
    for (const name of [...fields.keys(), ...added]) if (table.columns.has(name)) this.#addColumn(name)
  }

  /** No table yet and the whole CREATE refused: the table of the first row the server takes. */
  async #createFromARow(
    conn: PoolConnection,
    fresh: ReadonlyMap<string, Inferred>,
    brings: ReadonlyMap<number, readonly string[]>,
    refused: Map<number, string>,
  ): Promise<void> {
    for (const [index, names] of brings) {
      if (refused.has(index)) continue
      const defs = names.map((name) => [name, this.#typeOf(name, fresh.get(name)!)] as const)
      try {
        await conn.query(createTableSql(this.#settings.table, defs, []))
        return
      } catch (error) {
        if (!isDdlLimit(error)) throw error
        refused.set(index, `${this.target} cannot take the row's fields: ${rowMessage(error)}`)
      }
    }
    throw new MySqlError(`mysql(): no row of the batch gives ${this.target} a table the server accepts`)
  }

  /** Adds the lacking columns one row at a time, in row order; a row whose columns the server refuses is refused. */
  async #addRowByRow(
    conn: PoolConnection,
    lacking: ReadonlyMap<string, string>,
    brings: ReadonlyMap<number, readonly string[]>,
    refused: Map<number, string>,
  ): Promise<string[]> {
    const table = await describeTable(conn, this.#database, this.#settings.table)
    const present = new Set(table?.columns.keys() ?? [])
    const added: string[] = []
    for (const [index, names] of brings) {
      if (refused.has(index)) continue
      const defs = names
        .filter((name) => !present.has(name) && lacking.has(name))
        .map((name) => [name, lacking.get(name)!] as const)
      if (defs.length === 0) continue
      try {
        await conn.query(addColumnsSql(this.#settings.table, defs))
        for (const [name] of defs) {
          present.add(name)
          added.push(name)
        }
      } catch (error) {
        if (!isDdlLimit(error)) throw error
        refused.set(
          index,
          `${this.target} cannot take the row's new field(s) ${listNames(defs.map(([n]) => n))}: ${rowMessage(error)}`,
        )
      }
    }
    return added
  }

  /**
   * Fractions for integer columns (MariaDB would round them silently): the column is widened to DOUBLE when
   * the sink manages the table (createTable) and no stored value changes; otherwise the rows are refused,
   * naming the column and the fix.
   */
  async #fractions(
    conn: PoolConnection,
    rows: readonly unknown[],
    refused: Map<number, string>,
  ): Promise<void> {
    const table = this.#table
    if (!table) return
    for (const name of this.#columns) {
      const column = table.columns.get(name)
      if (column?.family !== 'integer' || column.dataType === 'bit') continue
      const hits: number[] = []
      for (let i = 0; i < rows.length; i++) {
        if (refused.has(i)) continue
        const v = (rows[i] as Record<string, unknown>)[name]
        if (typeof v === 'number' && Number.isFinite(v) && !Number.isInteger(v)) hits.push(i)
      }
      if (hits.length === 0) continue
      const why = this.#mayWiden(column) ? await this.#widen(conn, column) : this.#whyNotWiden(column)
      if (why === undefined) continue
      const fix = `widen it: ALTER TABLE ${quoteId(this.#settings.table)} MODIFY ${quoteId(name)} DOUBLE${column.nullable ? '' : ' NOT NULL'}`
      for (const i of hits)
        refused.set(
          i,
          `column ${quoteId(name)} of ${this.target} is ${column.columnType.toUpperCase()}, and ${String((rows[i] as Record<string, unknown>)[name])} is not a whole number; ${fix} (${why})`,
        )
    }
  }

  #mayWiden(column: ColumnInfo): boolean {
    return this.#whyNotWiden(column) === undefined
  }

  #whyNotWiden(column: ColumnInfo): string | undefined {
    if (!this.#settings.createTable)
      return 'or pass createTable: true to let the sink widen it when no stored value changes'
    if (this.#settings.key.includes(column.name)) return 'the sink never changes a key column'
    if (!column.nullable || column.hasDefault || column.generated)
      return 'the sink only widens nullable columns without a default, as it creates them'
    return undefined
  }

  /**
   * Widens an integer column to DOUBLE when no stored value changes (every integer up to 2^53 is exact as
   * a double). Undefined when done, otherwise why not.
   */
  async #widen(conn: PoolConnection, column: ColumnInfo): Promise<string | undefined> {
    const known = this.#unwidened.get(column.name)
    if (known !== undefined) return known
    const why = await this.#tryWiden(conn, column)
    if (why !== undefined) this.#unwidened.set(column.name, why)
    return why
  }

  async #tryWiden(conn: PoolConnection, column: ColumnInfo): Promise<string | undefined> {
    const table = quoteId(this.#settings.table)
    const name = quoteId(column.name)
    if (/bigint/i.test(column.dataType)) {
      const [check] = await conn.query<RowDataPacket[]>(
        `SELECT EXISTS (SELECT 1 FROM ${table} WHERE ${name} > ${EXACT_IN_DOUBLE} OR ${name} < -${EXACT_IN_DOUBLE}) AS beyond`,
      )
      if (Number(check[0]?.['beyond']))
        return 'not done by the sink: the column holds values beyond 2^53, which DOUBLE would round'
    }
    try {
      await conn.query(`ALTER TABLE ${table} MODIFY ${name} DOUBLE NULL`)
    } catch (error) {
      if (classify(error) === 'retryable') throw error
      return `not done by the sink: ${rowMessage(error)}`
    }
    const described = await describeTable(conn, this.#database, this.#settings.table)
    if (described) {
      this.#table = described
      this.#converters = this.#columns.map((c) => converterFor(described.columns.get(c)!))
      this.#statements.clear()
    }
    return undefined
  }

  /** Declared in `columns`, else by the plan's schema, else the widest type for the values' kind. */
  #typeOf(name: string, spec: Inferred): string {
    const { declared, key } = this.#settings
    const isKey = key.includes(name)
    const declaredType = declared.get(name)
    if (declaredType !== undefined) return declaredType
    const type = this.#rowType?.fields.get(name)
    return type
      ? declaredSqlType(type, isKey, this.#keyCollation)
      : sqlTypeFor(spec.kind, isKey, this.#keyCollation)
  }

  #nameProblem(name: string): string | undefined {
    if (this.#names.has(name)) return this.#names.get(name)
    const problem = columnNameProblem(name)
    if (this.#names.size < 100_000) this.#names.set(name, problem)
    return problem
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
