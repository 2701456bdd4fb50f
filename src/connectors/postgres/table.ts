import type pg from 'pg'
import { UsageError } from '../../errors.ts'
import { checkTypeName, fits, inferType, kindOf, type TableColumn, type ValueKind } from './columns.ts'
import { dbError } from './errors.ts'
import { displayName, qualified, quoteIdent } from './identifiers.ts'
import type { PostgresSettings } from './options.ts'
import type { Line } from './write-rows.ts'

/**
 * Marker errors for DDL races (another session created the same table a moment before): duplicate table,
 * schema or column; a unique violation in the catalogue; and 42710, duplicate object, which the loser of two
 * concurrent `CREATE TABLE IF NOT EXISTS` gets for the table's row type.
 */
const ALREADY_EXISTS = new Set(['42P07', '42P06', '42701', '23505', '42710'])

/**
 * The target table as the sink knows it: its columns from pg_catalog, created or widened (createTable) as the
 * rows need, and each field checked against its column once, when it first carries values.
 */
export class PostgresTable {
  readonly #settings: PostgresSettings
  readonly #pool: pg.Pool
  /** The table's columns in order; undefined while the table does not exist (createTable, no rows yet). */
  #columns: Map<string, TableColumn> | undefined
  /** Fields whose values were checked against their column. */
  readonly #checked = new Set<string>()

  constructor(settings: PostgresSettings, pool: pg.Pool) {
    this.#settings = settings
    this.#pool = pool
  }

  get #name(): string {
    return displayName(this.#settings.table)
  }

  /** At open: reads the table; creates it when every column is declared; checks the upsert key. */
  async open(): Promise<void> {
    const { createTable, declared, key, mode } = this.#settings
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
    const exists = await db.query<{ oid: string | null }>('SELECT to_regclass($1)::oid AS oid', [ref])
    if (!exists.rows[0]?.oid) return undefined
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
   * Checks the rows' fields against the table (once per column, when it first has values) and returns the
   * columns to write. Creates the table or adds columns when createTable allows; otherwise a missing or
   * unfitting column is a UsageError listing every mismatch.
   */
  async columnsFor(lines: readonly Line[]): Promise<TableColumn[]> {
    const { declared, createTable, key, mode } = this.#settings
    const present = new Map<string, Set<ValueKind>>()
    for (const { row } of lines) {
      for (const name in row) {
        const value = row[name]
        if (value === undefined) continue
        let kinds = present.get(name)
        if (!kinds) {
          kinds = new Set()
          present.set(name, kinds)
        }
        if (!this.#checked.has(name)) {
          const kind = kindOf(value)
          if (kind) kinds.add(kind)
        }
      }
    }
    const typeFor = (name: string, kinds: ReadonlySet<ValueKind>) => declared.get(name) ?? inferType(kinds)
    if (!this.#columns) {
      const defs = new Map<string, string>(declared)
      for (const [name, kinds] of present) {
        const type = typeFor(name, kinds)
        if (type && !defs.has(name)) defs.set(name, type)
      }
      for (const k of key) if (!defs.has(k)) defs.set(k, 'text')
      await this.#create([...defs])
      if (!this.#columns) throw new UsageError(`postgres sink: could not create table ${this.#name}.`)
    }
    let columns: Map<string, TableColumn> = this.#columns
    const mismatches: string[] = []
    const additions: [string, string][] = []
    for (const [name, kinds] of present) {
      const column = columns.get(name)
      if (!column) {
        const type = typeFor(name, kinds)
        if (type === undefined) continue // only nulls so far: nothing to write, nothing lost
        if (createTable) additions.push([name, type])
        else mismatches.push(`column ${JSON.stringify(name)}: missing (rows need ${type})`)
        continue
      }
      if (this.#checked.has(name) || kinds.size === 0) continue
      if ([...kinds].every((k) => fits(k, column))) this.#checked.add(name)
      else
        mismatches.push(
          `column ${JSON.stringify(name)}: table has ${column.type}, rows need ${inferType(kinds)}`,
        )
    }
    if (mismatches.length > 0)
      throw new UsageError(
        `postgres sink: table ${this.#name} does not fit the rows: ${mismatches.join('; ')}.` +
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
    const written = [...columns.values()].filter(
      (c) => present.has(c.name) || (mode === 'upsert' && key.includes(c.name)),
    )
    if (written.length === 0)
      throw new UsageError(
        `postgres sink: the rows have no field with a value for any column of ${this.#name}.`,
      )
    return written
  }
}
