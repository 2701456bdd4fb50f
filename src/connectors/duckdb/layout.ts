import { type DuckDBConnection, type DuckDBType, DuckDBTypeId } from '@duckdb/node-api'
import { UsageError } from '../../errors.ts'
import type { RowType } from '../../plan/row-type.ts'
import { asciiLower, basicNameProblem, notARow, showName } from '../sql/index.ts'
import { duckdbMessage, quoteIdentifier } from './database.ts'
import type { DuckDBSettings } from './options.ts'
import {
  accepts,
  declaredSqlType,
  describeKinds,
  describeTable,
  INTEGER_TYPES,
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
  /** Integer columns a fraction cannot go into, with why the sink did not widen them (for the reason). */
  readonly narrow: ReadonlyMap<string, string>
}

/** A batch's rows as the table sees them: its layout, and the rows it cannot take (index → reason). */
export interface Screened {
  readonly layout: Layout | undefined
  /** The rows as objects; a row that is not one is an empty object here (and refused). */
  readonly records: readonly Readonly<Record<string, unknown>>[]
  readonly refused: ReadonlyMap<number, string>
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({})

/** Doubles hold every integer up to 2^53 exactly: a BIGINT column with no value beyond widens losslessly. */
const EXACT_IN_DOUBLE = 9007199254740992
const WIDE_INTEGERS = new Set<DuckDBTypeId>([
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.UBIGINT,
  DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UHUGEINT,
  DuckDBTypeId.BIGNUM,
])

/**
 * The target table as the sink knows it, and for each batch how its rows go in: the columns, the DDL the rows
 * need (a created table, added columns, an integer column widened to DOUBLE), whether they fit, and the rows
 * it cannot take (not an object, a field name no column can have, past the column limit).
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
  #rowType: RowType | undefined
  /** Integer columns the sink found it cannot widen (a value beyond 2^53), and why: not scanned again. */
  readonly #unwidened = new Map<string, string>()

  constructor(settings: DuckDBSettings, conn: DuckDBConnection) {
    this.#settings = settings
    this.#conn = conn
  }

  get #target(): string {
    return tableName(this.#settings.schema, this.#settings.table)
  }

  /** The field types the plan declares (from open()). */
  set rowType(rowType: RowType | undefined) {
    this.#rowType = rowType
  }

  /** Forget the table's description: a rollback may have undone DDL, a commit applied it. */
  forget(): void {
    this.#described = undefined
  }

  /**
   * The rows the table cannot take, then the layout of the others: the columns, the DDL they need and
   * whether they fit; mismatches are a UsageError.
   */
  async screen(rows: readonly unknown[]): Promise<Screened> {
    const s = this.#settings
    if (this.#described === undefined) {
      this.#described = (await describeTable(this.#conn, s.schema, s.table)) ?? null
      this.#checked = new Set()
    }
    const described = this.#described
    const refused = new Map<number, string>()
    const records: Readonly<Record<string, unknown>>[] = new Array(rows.length)
    // With declared columns only those fields are written: the others' names never reach SQL.
    const named = !s.columns
    const folded = new Map<string, string>()
    for (const c of described?.columns ?? []) folded.set(asciiLower(c.name), c.name)
    const adds = s.managed || !described
    const existing = described?.columns.length ?? 0
    let planned = 0
    // Fields known to be fine (a column, or a field an earlier row of the batch made one, spelled the same):
    // most rows have only those, and cost one set lookup per field.
    const settled = new Set<string>()
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]
      const problem = notARow(row)
      if (problem !== undefined) {
        refused.set(i, problem)
        records[i] = EMPTY
        continue
      }
      const record = row as Readonly<Record<string, unknown>>
      records[i] = record
      if (!named || onlySettled(record, settled)) continue
      const reason = this.#rowProblem(record, folded)
      if (reason !== undefined) {
        refused.set(i, reason)
        continue
      }
      let added: string[] | undefined
      for (const k in record) {
        const v = record[k]
        if (v === undefined) continue
        const known = folded.get(asciiLower(k))
        if (known === k) settled.add(k)
        if (!adds || v === null || known !== undefined) continue
        added ??= []
        added.push(k)
      }
      if (!added) continue
      if (existing + planned + added.length > s.maxColumns) {
        refused.set(
          i,
          `the row's new field(s) ${listNames(added)} would take table ${s.schema}.${s.table} past ${s.maxColumns} columns ` +
            `(maxColumns; it has ${existing + planned})`,
        )
        continue
      }
      planned += added.length
      for (const k of added) folded.set(asciiLower(k), k)
    }
    const good = refused.size === 0 ? records : records.filter((_, i) => !refused.has(i))
    const layout = good.length > 0 ? await this.#layout(good) : undefined
    return { layout, records, refused }
  }

  /** A field name no column can have, or one DuckDB takes for another's (case is ignored). */
  #rowProblem(record: Readonly<Record<string, unknown>>, folded: Map<string, string>): string | undefined {
    let spelled: Map<string, string> | undefined
    for (const k in record) {
      if (record[k] === undefined) continue
      const problem = basicNameProblem(k)
      if (problem !== undefined) return `field ${showName(k)}: ${problem}`
      const fold = asciiLower(k)
      let other = folded.get(fold)
      const known = other !== undefined
      if (other === undefined && fold !== k) {
        // Another spelling in the same row: all lower case, or with other capitals (rare: a map only then).
        if (Object.hasOwn(record, fold) && record[fold] !== undefined) other = fold
        else {
          other = spelled?.get(fold)
          spelled ??= new Map()
          spelled.set(fold, k)
        }
      }
      if (other !== undefined && other !== k)
        return `field ${showName(k)} and ${known ? 'column' : 'field'} ${showName(other)} differ only in case, and DuckDB column names ignore case`
    }
    return undefined
  }

  /** Works out the columns, the DDL the rows need and whether they fit; mismatches are a UsageError. */
  async #layout(rows: readonly Readonly<Record<string, unknown>>[]): Promise<Layout> {
    const s = this.#settings
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
    const typeOf = (name: string) => {
      const declared = this.#rowType?.fields.get(name)
      return declared ? declaredSqlType(declared) : inferSqlType(kindsOf(rows, name))
    }

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
        // Key columns first, then the rows' fields, then fields the schema declares that no row has yet.
        const names = [...s.keyColumns, ...[...present].filter((n) => !s.keyColumns.includes(n))]
        const folded = new Set(names.map(asciiLower))
        for (const name of this.#rowType?.fields.keys() ?? []) {
          if (names.length >= s.maxColumns) break
          if (!folded.has(asciiLower(name)) && basicNameProblem(name) === undefined) {
            names.push(name)
            folded.add(asciiLower(name))
          }
        }
        for (const name of names) columns.push(await this.#column(name, typeOf(name)))
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
      const written = columns.filter((c) => !s.columns || c.name in s.columns)
      return { ddl: [ddl], columns, written, direct: s.mode === 'append', narrow: new Map() }
    }

    const mismatches: string[] = []
    const ddl: string[] = []
    const narrow = new Map<string, string>()
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
        const column = await this.#column(name, typeOf(name))
        ddl.push(`ALTER TABLE ${this.#target} ADD COLUMN ${quoteIdentifier(name)} ${column.sqlType}`)
        byName.set(name, columns.length)
        columns.push(column)
        continue
      }
      const column = columns[index]!
      if (INTEGER_TYPES.has(column.type.typeId)) {
        const declaredNumber = this.#rowType?.fields.get(name) === 'number'
        const fraction = rows.some((r) => {
          const v = r[name]
          return typeof v === 'number' && Number.isFinite(v) && !Number.isInteger(v)
        })
        if (declaredNumber || fraction) {
          // A sum that was whole so far (or a column an older version made BIGINT): widen instead of rounding.
          const why = await this.#whyNotWiden(column)
          if (why === undefined) {
            ddl.push(`ALTER TABLE ${this.#target} ALTER COLUMN ${quoteIdentifier(name)} TYPE DOUBLE`)
            columns[index] = await this.#column(name, 'DOUBLE', column)
            continue
          }
          narrow.set(name, why)
        }
      }
      if (s.columns || this.#checked.has(name)) continue
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
        `DuckDB sink: table ${s.schema}.${s.table} in ${s.location} does not fit the rows:\n- ${mismatches.slice(0, 20).join('\n- ')}` +
          (mismatches.length > 20 ? `\n- and ${mismatches.length - 20} more` : ''),
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
    return { ddl, columns, written: ordered, direct, narrow }
  }

  /**
   * Why the sink does not widen an integer column to DOUBLE, or undefined when it does: only when it manages
   * the table, never a key column, and only while no stored value is beyond 2^53 (which DOUBLE would round).
   */
  async #whyNotWiden(column: Column): Promise<string | undefined> {
    const s = this.#settings
    const fix = `ALTER TABLE ${this.#target} ALTER COLUMN ${quoteIdentifier(column.name)} TYPE DOUBLE`
    if (!s.managed)
      return `widen it (${fix}), or let the sink manage the table (createTable: true, no columns) and widen it when no stored value changes`
    if (s.keyColumns.includes(column.name))
      return `the sink never changes a key column; widen it yourself (${fix})`
    const known = this.#unwidened.get(column.name)
    if (known !== undefined) return known
    // Only 64- and 128-bit integers can hold what a double cannot.
    if (!WIDE_INTEGERS.has(column.type.typeId)) return undefined
    const reader = await this.#conn.runAndReadAll(
      `SELECT EXISTS (SELECT 1 FROM ${this.#target} WHERE abs(${quoteIdentifier(column.name)}::HUGEINT) > ${EXACT_IN_DOUBLE}) AS beyond`,
    )
    if (reader.getRowObjectsJS()[0]?.beyond !== true) return undefined
    const why = `the column holds values beyond 2^53, which DOUBLE would round, so the sink leaves it; widen it yourself (${fix}) or write to another column`
    this.#unwidened.set(column.name, why)
    return why
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

/** Whether every field of the row with a value is in `settled`. */
function onlySettled(record: Readonly<Record<string, unknown>>, settled: ReadonlySet<string>): boolean {
  for (const k in record) if (record[k] !== undefined && !settled.has(k)) return false
  return true
}

function listNames(names: readonly string[]): string {
  return (
    names.slice(0, 5).map(showName).join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '')
  )
}

function kindsOf(rows: readonly Readonly<Record<string, unknown>>[], name: string): Set<Kind> {
  const kinds = new Set<Kind>()
  for (const row of rows) {
    const kind = kindOf(row[name])
    if (kind) kinds.add(kind)
  }
  return kinds
}
