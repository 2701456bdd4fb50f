import type pg from 'pg'
import { UsageError } from '../../errors.ts'
import type { RowType } from '../../plan/row-type.ts'
import { basicNameProblem, showName } from '../sql/index.ts'
import {
  checkTypeName,
  declaredType,
  fits,
  isIntegerColumn,
  kindOf,
  type TableColumn,
  type ValueKind,
  widestType,
} from './columns.ts'
import { dbError, isTransient } from './errors.ts'
import { displayName, qualified, quoteIdent } from './identifiers.ts'
import type { PostgresSettings } from './options.ts'
import { type BadRow, type Line, sinkRefusal } from './write-rows.ts'

/**
 * Marker errors for DDL races (another session created the same table a moment before): duplicate table,
 * schema or column; a unique violation in the catalogue; and 42710, duplicate object, which the loser of two
 * concurrent `CREATE TABLE IF NOT EXISTS` gets for the table's row type.
 */
const ALREADY_EXISTS = new Set(['42P07', '42P06', '42701', '23505', '42710'])

/**
 * PostgreSQL's limit on a table's columns (MaxHeapAttributeNumber). Dropped columns keep their number, so
 * they count too.
 */
export const MAX_COLUMNS = 1600

/** Doubles hold every integer up to 2^53 exactly: an int8 column with no value beyond widens losslessly. */
const EXACT_IN_DOUBLE = 9007199254740992

/** What the sink writes of a batch: the columns, the rows, and the rows it refuses itself. */
export interface PreparedRows {
  readonly columns: TableColumn[]
  readonly lines: Line[]
  readonly bad: BadRow[]
}

/**
 * The target table as the sink knows it: its columns from pg_catalog, created or widened (createTable) as the
 * rows need, and each field checked against its column once, when it first carries values.
 */
export class PostgresTable {
  readonly #settings: PostgresSettings
  readonly #pool: pg.Pool
  /** The table's columns in order; undefined while the table does not exist (createTable, no rows yet). */
  #columns: Map<string, TableColumn> | undefined
  /** Column numbers the table has used, dropped columns included (they count towards MAX_COLUMNS). */
  #attributes = 0
  /** Fields whose values were checked against their column. */
  readonly #checked = new Set<string>()
  /** Field names seen, and why each cannot be a column (undefined: it can). */
  readonly #names = new Map<string, string | undefined>()
  /** The server's max_identifier_length: longer names would be cut, and land in another column. */
  #maxName = 63
  #rowType: RowType | undefined
  /** Integer columns the sink found it cannot widen, and why: not tried again (each try locks the table). */
  readonly #unwidened = new Map<string, string>()

  constructor(settings: PostgresSettings, pool: pg.Pool) {
    this.#settings = settings
    this.#pool = pool
  }

  get #name(): string {
    return displayName(this.#settings.table)
  }

  /** At open: reads the table; creates it when every column is declared; checks the upsert key. */
  async open(rowType: RowType | undefined): Promise<void> {
    const { createTable, declared, key, mode } = this.#settings
    this.#rowType = rowType
    const limit = await this.#pool.query<{ n: string }>('SHOW max_identifier_length')
    this.#maxName = Number(limit.rows[0]?.n ?? 63) || 63
    this.#columns = await this.#load()
    if (!this.#columns) {
      if (!createTable)
        throw new UsageError(
          `postgres sink: table ${this.#name} does not exist. Create it, or pass createTable: true to create it from the rows.`,
        )
      // With every column typed up front the table can exist before the first row; otherwise the rows tell.
      if (declared.size > 0 && key.every((k) => declared.has(k))) await this.#create([...declared])
    }
    if (this.#columns && mode === 'upsert') await this.#checkKey(this.#columns)
    // A column an older version created from the first values (a whole-number sum as bigint) that the
    // schema now declares a number: widened before the first fraction arrives.
    if (this.#columns && createTable && rowType) {
      for (const [name, type] of rowType.fields) {
        const column = this.#columns.get(name)
        if (type === 'number' && column && isIntegerColumn(column) && !key.includes(name))
          await this.#widen(column)
      }
    }
  }

  /** DDL outside the batch transaction; a concurrent creator winning the race is fine. */
  async ddl(sql: string): Promise<void> {
    try {
      await this.#pool.query(sql)
    } catch (error) {
      const { code } = dbError(error)
      if (code === undefined || !ALREADY_EXISTS.has(code)) throw error
    }
  }

  async #load(): Promise<Map<string, TableColumn> | undefined> {
    const db = this.#pool
    const ref = qualified(this.#settings.table)
    const exists = await db.query<{ oid: string | null; attributes: number | null }>(
      `SELECT to_regclass($1)::oid AS oid,
              (SELECT max(attnum)::int FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0) AS attributes`,
      [ref],
    )
    if (!exists.rows[0]?.oid) {
      this.#attributes = 0
      return undefined
    }
    this.#attributes = exists.rows[0].attributes ?? 0
    const result = await db.query<TableColumn>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
              coalesce(b.typname, t.typname)::text AS typname, coalesce(b.typcategory, t.typcategory)::text AS category,
              a.attnotnull AS "notNull"
         FROM pg_attribute a
         JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype
        WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
        ORDER BY a.attnum`,
      [exists.rows[0].oid],
    )
    return new Map(result.rows.map((c) => [c.name, c]))
  }

  /** ON CONFLICT needs a primary key or unique index on exactly the key columns. */
  async #checkKey(columns: ReadonlyMap<string, TableColumn>): Promise<void> {
    const { key } = this.#settings
    const missing = key.filter((k) => !columns.has(k))
    if (missing.length > 0)
      throw new UsageError(
        `postgres sink: table ${this.#name} has no column ${missing.map((m) => JSON.stringify(m)).join(', ')} of the upsert key.`,
      )
    const result = await this.#pool.query<{ ok: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM pg_index i
          WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indimmediate AND i.indpred IS NULL
            AND NOT (0 = ANY (i.indkey))
            AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a
                  WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey))
              = (SELECT array_agg(k ORDER BY k) FROM unnest($2::text[]) AS k)
       ) AS ok`,
      [qualified(this.#settings.table), key],
    )
    if (!result.rows[0]?.ok)
      throw new UsageError(
        `postgres sink: upsert into ${this.#name} needs a primary key or unique index on (${key.join(', ')}); the table has none.`,
      )
  }

  async #create(columns: readonly (readonly [string, string])[]): Promise<void> {
    const { table, mode, key } = this.#settings
    const defs = columns.map(([name, type]) => `${quoteIdent(name)} ${checkTypeName(name, type)}`)
    if (mode === 'upsert') defs.push(`PRIMARY KEY (${key.map(quoteIdent).join(', ')})`)
    await this.ddl(`CREATE TABLE IF NOT EXISTS ${qualified(table)} (${defs.join(', ')})`)
    this.#columns = await this.#load()
  }

  /**
   * Prepares a batch's rows for the table: a row with a field no column can have (a name with a NUL, too
   * long, empty), or one whose new fields would take the table past PostgreSQL's 1600 columns, is refused
   * (a dead letter with the reason); fields are checked against their columns once, when they first carry
   * values, and the table is created or given columns (createTable) as the rows need; a fraction for an
   * integer column widens it (createTable, when lossless) or refuses the row, naming the column and the
   * fix. Without createTable, a missing or unfitting column is a UsageError listing every mismatch.
   */
  async prepare(lines: readonly Line[]): Promise<PreparedRows> {
    const { createTable, key, mode } = this.#settings
    const bad: BadRow[] = []
    const refuse = (line: Line, reason: string) => bad.push(sinkRefusal(line, reason))
    const kinds = new Map<string, Set<ValueKind>>()
    /** New columns (createTable) in the order rows bring them; their types are chosen after the pass. */
    const planned = new Map<string, string | undefined>()
    if (!this.#columns) for (const [name, type] of this.#initialColumns()) planned.set(name, type)
    const budget = MAX_COLUMNS - (this.#columns ? this.#attributes : 0)
    let good: Line[] = []
    // Fields known to be fine for this batch (a column, checked, a valid name, seen): most rows have only
    // those, and cost one set lookup per field.
    const settled = new Set<string>()
    each: for (const line of lines) {
      const row = line.row
      let simple = true
      for (const name in row) {
        if (row[name] !== undefined && !settled.has(name)) {
          simple = false
          break
        }
      }
      if (simple) {
        good.push(line)
        continue
      }
      let fresh: string[] | undefined
      for (const name in row) {
        if (row[name] === undefined) continue
        const problem = this.#nameProblem(name)
        if (problem !== undefined) {
          refuse(line, `field ${showName(name)}: ${problem}`)
          continue each
        }
        if (createTable && row[name] !== null && !this.#columns?.has(name) && !planned.has(name)) {
          fresh ??= []
          fresh.push(name)
        }
      }
      if (fresh && planned.size + fresh.length > budget) {
        const shown =
          fresh.slice(0, 5).map(showName).join(', ') +
          (fresh.length > 5 ? ` and ${fresh.length - 5} more` : '')
        refuse(
          line,
          `the row's new field(s) ${shown} would take table ${this.#name} past ${MAX_COLUMNS} columns, ` +
            `PostgreSQL's limit (it has ${MAX_COLUMNS - budget + planned.size}, dropped columns included)`,
        )
        continue
      }
      for (const name of fresh ?? []) planned.set(name, undefined)
      good.push(line)
      for (const name in row) {
        const value = row[name]
        if (value === undefined) continue
        let seen = kinds.get(name)
        if (!seen) {
          seen = new Set()
          kinds.set(name, seen)
        }
        if (!this.#checked.has(name)) {
          const kind = kindOf(value)
          if (kind) seen.add(kind)
        } else if (this.#columns?.has(name)) settled.add(name)
      }
    }
    const typeFor = (name: string) => this.#typeFor(name, kinds.get(name) ?? new Set())
    if (!this.#columns) {
      const defs = new Map<string, string>()
      for (const [name, type] of planned) {
        const chosen = type ?? typeFor(name)
        if (chosen !== undefined) defs.set(name, chosen)
      }
      for (const k of key) if (!defs.has(k)) defs.set(k, 'text')
      await this.#create([...defs])
      if (!this.#columns) throw new UsageError(`postgres sink: could not create table ${this.#name}.`)
    }
    let columns: Map<string, TableColumn> = this.#columns
    const mismatches: string[] = []
    const additions: [string, string][] = []
    for (const [name, seen] of kinds) {
      const column = columns.get(name)
      if (!column) {
        const type = typeFor(name)
        if (type === undefined) continue // only nulls so far: nothing to write, nothing lost
        if (createTable) additions.push([name, type])
        else mismatches.push(`column ${JSON.stringify(name)}: missing (rows need ${type})`)
        continue
      }
      if (this.#checked.has(name) || seen.size === 0) continue
      if ([...seen].every((k) => fits(k, column))) this.#checked.add(name)
      else
        mismatches.push(
          `column ${JSON.stringify(name)}: table has ${column.type}, rows need ${widestType(seen)}`,
        )
    }
    if (mismatches.length > 0)
      throw new UsageError(
        `postgres sink: table ${this.#name} does not fit the rows: ${mismatches.slice(0, 20).join('; ')}` +
          `${mismatches.length > 20 ? `; and ${mismatches.length - 20} more` : ''}.` +
          (createTable ? '' : ' (createTable: true adds missing columns.)'),
      )
    if (additions.length > 0) {
      for (const [name, type] of additions)
        await this.ddl(
          `ALTER TABLE ${qualified(this.#settings.table)} ADD COLUMN IF NOT EXISTS ${quoteIdent(name)} ${checkTypeName(name, type)}`,
        )
      this.#columns = (await this.#load()) ?? columns
      columns = this.#columns
      for (const [name] of additions) this.#checked.add(name)
    }
    // Fractions for integer columns: widened when the sink manages the table and it is lossless, else refused.
    for (const column of columns.values()) {
      if (!kinds.has(column.name) || !isIntegerColumn(column)) continue
      const name = column.name
      const fractions = good.filter((l) => {
        const v = l.row[name]
        return typeof v === 'number' && Number.isFinite(v) && !Number.isInteger(v)
      })
      if (fractions.length === 0) continue
      const why = createTable && !key.includes(name) ? await this.#widen(column) : undefined
      if (why === undefined && createTable && !key.includes(name)) {
        columns = this.#columns
        continue
      }
      const fix =
        `widen it: ALTER TABLE ${qualified(this.#settings.table)} ALTER COLUMN ${quoteIdent(name)} TYPE double precision` +
        (key.includes(name)
          ? ' (a key column is never changed by the sink)'
          : createTable
            ? ` (not done by the sink: ${why})`
            : ', or pass createTable: true to let the sink widen it when no stored value changes')
      for (const line of fractions)
        refuse(
          line,
          `column ${JSON.stringify(name)} of ${this.#name} is ${column.type}, and ${String(line.row[name])} is not a whole number; ${fix}`,
        )
      const refused = new Set(fractions)
      good = good.filter((l) => !refused.has(l))
    }
    const written = [...columns.values()].filter(
      (c) => kinds.has(c.name) || (mode === 'upsert' && key.includes(c.name)),
    )
    if (written.length === 0 && good.length > 0)
      throw new UsageError(
        `postgres sink: the rows have no field with a value for any column of ${this.#name}.`,
      )
    return { columns: written, lines: good, bad: bad.sort((a, b) => a.index - b.index) }
  }

  /** Columns of a table created before any row: declared ones (`columns`), then the schema's fields. */
  #initialColumns(): Map<string, string> {
    const defs = new Map<string, string>(this.#settings.declared)
    for (const [name, type] of this.#rowType?.fields ?? []) {
      if (defs.size >= MAX_COLUMNS) break
      if (!defs.has(name) && this.#nameProblem(name) === undefined) defs.set(name, declaredType(type))
    }
    return defs
  }

  /** Declared in `columns`, else declared by the plan's schema, else the widest type for the values' kind. */
  #typeFor(name: string, kinds: ReadonlySet<ValueKind>): string | undefined {
    const declared = this.#settings.declared.get(name)
    if (declared !== undefined) return declared
    const type = this.#rowType?.fields.get(name)
    return type ? declaredType(type) : widestType(kinds)
  }

  #nameProblem(name: string): string | undefined {
    if (this.#names.has(name)) return this.#names.get(name)
    let problem = basicNameProblem(name)
    const bytes = Buffer.byteLength(name)
    if (problem === undefined && bytes > this.#maxName)
      problem = `PostgreSQL column names have at most ${this.#maxName} bytes, this one ${bytes} (a longer name would be cut to another column's)`
    // Field names are the rows' own: a stream of ever new names is bounded by what is remembered.
    if (this.#names.size < 100_000) this.#names.set(name, problem)
    return problem
  }

  /**
   * Widens an integer column to double precision when no stored value changes (every int2 and int4 does,
   * int8 up to 2^53), in a transaction of its own that locks the table. Undefined when done, else why not.
   */
  async #widen(column: TableColumn): Promise<string | undefined> {
    const known = this.#unwidened.get(column.name)
    if (known !== undefined) return known
    const why = await this.#tryWiden(column)
    if (why !== undefined) this.#unwidened.set(column.name, why)
    return why
  }

  async #tryWiden(column: TableColumn): Promise<string | undefined> {
    const table = qualified(this.#settings.table)
    const name = quoteIdent(column.name)
    const client = await this.#pool.connect()
    try {
      await client.query('BEGIN')
      // A long query on the table must not hold the pipeline (and, queued behind it, every reader) for long:
      // on timeout the batch fails as retryable and the pipeline tries again.
      await client.query(`SET LOCAL lock_timeout = '10s'`)
      await client.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`)
      if (column.typname === 'int8') {
        const check = await client.query<{ beyond: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM ${table} WHERE ${name} > ${EXACT_IN_DOUBLE} OR ${name} < -${EXACT_IN_DOUBLE}) AS beyond`,
        )
        if (check.rows[0]?.beyond) {
          await client.query('ROLLBACK')
          return `the column holds values beyond 2^53, which double precision would round`
        }
      }
      await client.query(`ALTER TABLE ${table} ALTER COLUMN ${name} TYPE double precision`)
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      const { code, message } = dbError(error)
      // Views or rules on the column, a column type changed by someone else meanwhile: leave it, say why.
      if (code === undefined || isTransient(error)) throw error
      return `ALTER TABLE failed: ${message}`
    } finally {
      client.release()
    }
    this.#columns = (await this.#load()) ?? this.#columns
    this.#checked.delete(column.name)
    return undefined
  }
}
