import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { SluiceError, UsageError } from '../../../errors.ts'

/**
 * The catalog of an Iceberg table: who holds the pointer to its current metadata file. A commit is a
 * compare-and-swap of that pointer: it succeeds only when the pointer is still the one the new metadata was
 * built on, so two writers can never both commit on top of one version.
 */
export interface IcebergCatalog {
  readonly description: string
  /** The current metadata location, or undefined when the catalog has no such table. */
  load(): Promise<string | undefined>
  /** Registers the table with its first metadata file; false when it exists already. */
  create(location: string): Promise<boolean>
  /** Moves the pointer from `expected` to `next`; false when it no longer is `expected`. */
  swap(expected: string, next: string): Promise<boolean>
  close(): void
}

/** lake({ format: 'iceberg', catalog }): where the table is registered. */
export interface IcebergCatalogOptions {
  /**
   * A SQLite database file holding the SQL catalog's tables (`iceberg_tables`, `iceberg_namespace_properties`,
   * as Iceberg's JDBC catalog and PyIceberg's SqlCatalog lay them out); created when missing.
   */
  readonly sqlite: string
  /** The table as `namespace.name` (namespaces may have dots: `a.b.name`). */
  readonly table: string
  /** The catalog's name (its `catalog_name` column). Default "sluice". */
  readonly name?: string
}

export function parseTableName(table: string): { namespace: string; name: string } {
  const dot = table.lastIndexOf('.')
  if (typeof table !== 'string' || dot <= 0 || dot === table.length - 1)
    throw new UsageError(`lake(): catalog.table must be "namespace.name", got ${JSON.stringify(table)}.`)
  return { namespace: table.slice(0, dot), name: table.slice(dot + 1) }
}

/**
 * The SQL catalog in SQLite (node:sqlite): the same tables and columns as Iceberg's JDBC catalog, so
 * PyIceberg's SqlCatalog, Spark and Trino configured with it find the table. The swap is one UPDATE … WHERE
 * metadata_location = expected, atomic in SQLite.
 */
export class SqliteCatalog implements IcebergCatalog {
  readonly description: string
  readonly #db: DatabaseSync
  readonly #catalog: string
  readonly #namespace: string
  readonly #table: string

  constructor(options: IcebergCatalogOptions) {
    const { namespace, name } = parseTableName(options.table)
    this.#catalog = options.name ?? 'sluice'
    this.#namespace = namespace
    this.#table = name
    this.description = `SQL catalog ${options.sqlite} (${this.#catalog}) table ${options.table}`
    try {
      // The catalog file is created when missing, its folder too (a data folder's first run).
      mkdirSync(dirname(options.sqlite), { recursive: true })
      this.#db = new DatabaseSync(options.sqlite, { timeout: 30_000 })
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS iceberg_tables (
          catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, table_name VARCHAR(255) NOT NULL,
          metadata_location VARCHAR(1000), previous_metadata_location VARCHAR(1000), iceberg_type VARCHAR(5),
          PRIMARY KEY (catalog_name, table_namespace, table_name));
        CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
          catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL, property_key VARCHAR(255) NOT NULL,
          property_value VARCHAR(1000) NOT NULL, PRIMARY KEY (catalog_name, namespace, property_key));`)
    } catch (error) {
      throw new SluiceError(
        'SLUICE_ICEBERG_CATALOG',
        `lake: cannot open the SQL catalog ${options.sqlite}: ${(error as Error).message}`,
        {
          domain: 'external',
          cause: error,
        },
      )
    }
  }

  async load(): Promise<string | undefined> {
    const row = this.#db
      .prepare(
        `SELECT metadata_location FROM iceberg_tables WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
           AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)`,
      )
      .get(this.#catalog, this.#namespace, this.#table) as { metadata_location: string | null } | undefined
    return row?.metadata_location ?? undefined
  }

  async create(location: string): Promise<boolean> {
    // The namespace is recorded as PyIceberg does ("exists"), so that listing namespaces shows it.
    this.#db
      .prepare(
        `INSERT OR IGNORE INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value)
         VALUES (?, ?, 'exists', 'true')`,
      )
      .run(this.#catalog, this.#namespace)
    const result = this.#db
      .prepare(
        `INSERT OR IGNORE INTO iceberg_tables
           (catalog_name, table_namespace, table_name, metadata_location, previous_metadata_location, iceberg_type)
         VALUES (?, ?, ?, ?, NULL, 'TABLE')`,
      )
      .run(this.#catalog, this.#namespace, this.#table, location)
    return result.changes === 1
  }

  async swap(expected: string, next: string): Promise<boolean> {
    const result = this.#db
      .prepare(
        `UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?
         WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND metadata_location = ?`,
      )
      .run(next, expected, this.#catalog, this.#namespace, this.#table, expected)
    return result.changes === 1
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close()
  }
}
