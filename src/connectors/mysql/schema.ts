/**
 * Tables of the MySQL/MariaDB sink: what a column is (read from information_schema), what the rows hold
 * (inferred from the first rows), whether the two fit, and the DDL for tables the sink creates.
 */
import type { PoolConnection, RowDataPacket } from 'mysql2/promise'
import { UsageError } from '../../errors.ts'
import type { FieldType } from '../../plan/row-type.ts'
import { ISO_TIMESTAMP, quoteId } from './sql.ts'

/** What a JavaScript value is, for choosing a column type and checking an existing one. */
export type ValueKind =
  | 'null'
  | 'integer'
  | 'number'
  | 'bigint'
  | 'boolean'
  | 'timestamp'
  | 'date'
  | 'string'
  | 'json'
  | 'binary'

export function kindOf(value: unknown): ValueKind {
  if (value === null || value === undefined) return 'null'
  switch (typeof value) {
    case 'boolean':
      return 'boolean'
    case 'number':
      return Number.isInteger(value) ? 'integer' : 'number'
    case 'bigint':
      return 'bigint'
    case 'string':
      return ISO_TIMESTAMP.test(value) ? 'timestamp' : 'string'
    case 'object':
      if (value instanceof Date) return 'date'
      if (value instanceof Uint8Array) return 'binary'
      return 'json'
    default:
      return 'string'
  }
}

/** The kind of a field that held both kinds: the narrowest kind that holds both. */
export function combineKinds(a: ValueKind, b: ValueKind): ValueKind {
  if (a === b || b === 'null') return a
  if (a === 'null') return b
  const both = new Set([a, b])
  if (both.has('json')) return 'json'
  if (both.has('integer') && both.has('number')) return 'number'
  if (both.has('bigint') && both.has('integer')) return 'bigint'
  if (both.has('bigint') && both.has('number')) return 'number'
  if (both.has('boolean') && (both.has('integer') || both.has('number')))
    return both.has('number') ? 'number' : 'integer'
  return 'string'
}

const KIND_NAMES: Record<ValueKind, string> = {
  null: 'only nulls',
  integer: 'whole numbers',
  number: 'fractional numbers',
  bigint: 'bigints',
  boolean: 'booleans',
  timestamp: 'ISO timestamps',
  date: 'Dates',
  string: 'text',
  json: 'objects',
  binary: 'bytes',
}

/** Text of an upsert key compares as JavaScript does (binary, trailing spaces significant). */
function keyText(keyCollation: string): string {
  return `VARCHAR(255) CHARACTER SET utf8mb4 COLLATE ${keyCollation}`
}

/**
 * The column type for a field without a declared type: the widest type for the kind of its values, never
 * one guessed narrower from them. Every JSON number is DOUBLE (a sum whole in the first batch is not an
 * integer column), every string LONGTEXT (an ISO timestamp today may be other text tomorrow), keys
 * VARCHAR(255) with a binary collation (an index needs a bounded length). JS bigints and Dates say what
 * they are: BIGINT and DATETIME(3).
 */
export function sqlTypeFor(kind: ValueKind, key: boolean, keyCollation: string): string {
  switch (kind) {
    case 'integer':
    case 'number':
      return 'DOUBLE'
    case 'bigint':
      return 'BIGINT'
    case 'boolean':
      return 'BOOLEAN'
    case 'date':
      return 'DATETIME(3)'
    case 'json':
      return 'JSON'
    case 'binary':
      return key ? 'VARBINARY(255)' : 'LONGBLOB'
    default:
      return key ? keyText(keyCollation) : 'LONGTEXT'
  }
}

/** The column type for a field the plan's schema declares. */
export function declaredSqlType(type: FieldType, key: boolean, keyCollation: string): string {
  switch (type) {
    case 'integer':
      return 'BIGINT'
    case 'number':
      return 'DOUBLE'
    case 'timestamp':
      return 'DATETIME(3)'
    case 'boolean':
      return 'BOOLEAN'
    case 'json':
      return 'JSON'
    case 'string':
      return key ? keyText(keyCollation) : 'LONGTEXT'
  }
}

/** What the sample rows hold in a field: the combined kind (for a new column) and every kind seen. */
export interface Inferred {
  readonly kind: ValueKind
  readonly seen: ReadonlySet<ValueKind>
}

/** Field → what the sample rows hold in it, fields in first-seen order. */
export function inferKinds(rows: readonly unknown[]): Map<string, Inferred> {
  const kinds = new Map<string, { kind: ValueKind; seen: Set<ValueKind> }>()
  for (const row of rows) {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) continue
    for (const [field, value] of Object.entries(row)) {
      const kind = kindOf(value)
      const known = kinds.get(field)
      if (!known) kinds.set(field, { kind, seen: new Set([kind]) })
      else {
        known.kind = combineKinds(known.kind, kind)
        known.seen.add(kind)
      }
    }
  }
  return kinds
}

type Family =
  | 'integer'
  | 'decimal'
  | 'float'
  | 'text'
  | 'binary'
  | 'datetime'
  | 'date'
  | 'time'
  | 'year'
  | 'json'
  | 'bit'
  | 'other'

function familyOf(dataType: string): Family {
  const t = dataType.toLowerCase()
  if (/^(tinyint|smallint|mediumint|int|integer|bigint|bool|boolean|serial)$/.test(t)) return 'integer'
  if (/^(decimal|numeric|dec|fixed)$/.test(t)) return 'decimal'
  if (/^(float|double|real|double precision)$/.test(t)) return 'float'
  if (
    /^(char|varchar|tinytext|text|mediumtext|longtext|enum|set|nchar|nvarchar|national|character|uuid|inet4|inet6)$/.test(
      t,
    )
  )
    return 'text'
  if (/^(binary|varbinary|tinyblob|blob|mediumblob|longblob)$/.test(t)) return 'binary'
  if (/^(datetime|timestamp)$/.test(t)) return 'datetime'
  if (t === 'date') return 'date'
  if (t === 'time') return 'time'
  if (t === 'year') return 'year'
  if (t === 'json') return 'json'
  if (t === 'bit') return 'bit'
  return 'other'
}

/** Which column families take values of a kind without the server turning them into something else. */
const FITS: Record<ValueKind, readonly Family[]> = {
  null: [
    'integer',
    'decimal',
    'float',
    'text',
    'binary',
    'datetime',
    'date',
    'time',
    'year',
    'json',
    'bit',
    'other',
  ],
  integer: ['integer', 'decimal', 'float', 'text', 'json', 'year', 'bit', 'other'],
  // A fraction for an integer column is a matter of single values: the column is widened or the row refused.
  number: ['integer', 'decimal', 'float', 'text', 'json', 'other'],
  bigint: ['integer', 'decimal', 'float', 'text', 'json', 'other'],
  boolean: ['integer', 'decimal', 'float', 'bit', 'text', 'json', 'other'],
  timestamp: ['datetime', 'date', 'text', 'json', 'other'],
  date: ['datetime', 'date', 'text', 'json', 'other'],
  string: ['text', 'json', 'binary', 'datetime', 'date', 'time', 'other'],
  json: ['json', 'text', 'binary', 'other'],
  binary: ['binary', 'text', 'other'],
}

export interface ColumnInfo {
  readonly name: string
  /** Lower-case base type, e.g. `varchar`; `json` also for MariaDB's JSON (LONGTEXT with a json_valid check). */
  readonly dataType: string
  /** The full type, e.g. `varchar(5)`. */
  readonly columnType: string
  readonly nullable: boolean
  /** NOT NULL without a default, not generated, not auto-increment: an insert must give a value. */
  readonly required: boolean
  /** Generated columns take no values. */
  readonly generated: boolean
  /** A DEFAULT other than NULL. */
  readonly hasDefault: boolean
  readonly family: Family
}

export interface TableInfo {
  readonly name: string
  readonly engine: string
  /** In table order. */
  readonly columns: ReadonlyMap<string, ColumnInfo>
  /** PRIMARY KEY and UNIQUE indexes, each as its columns. */
  readonly uniqueKeys: readonly { readonly name: string; readonly columns: readonly string[] }[]
}

/** The table as information_schema describes it, or undefined when it does not exist. */
export async function describeTable(
  conn: PoolConnection,
  database: string,
  table: string,
): Promise<TableInfo | undefined> {
  const [tables] = await conn.execute<RowDataPacket[]>(
    'SELECT ENGINE AS engine, TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [database, table],
  )
  const found = tables[0]
  if (!found) return undefined
  const [columns] = await conn.execute<RowDataPacket[]>(
    `SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType, IS_NULLABLE AS nullable,
            COLUMN_DEFAULT AS def, EXTRA AS extra, GENERATION_EXPRESSION AS generation
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [database, table],
  )
  // MariaDB's JSON is LONGTEXT with a json_valid(`column`) check; MySQL reports DATA_TYPE json itself.
  const jsonColumns = new Set<string>()
  try {
    const [checks] = await conn.execute<RowDataPacket[]>(
      'SELECT CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?',
      [database, table],
    )
    for (const check of checks) {
      const match = /^json_valid\(`((?:[^`]|``)+)`\)$/.exec(String(check['clause']).trim())
      if (match?.[1]) jsonColumns.add(match[1].replaceAll('``', '`'))
    }
  } catch {
    // Servers before CHECK constraints (MySQL 5.7) have no such view and no such JSON columns either.
  }
  const byName = new Map<string, ColumnInfo>()
  for (const c of columns) {
    const name = String(c['name'])
    const extra = String(c['extra'] ?? '').toLowerCase()
    const generated = /generated/.test(extra) && c['generation'] !== null && c['generation'] !== ''
    const dataType = jsonColumns.has(name) ? 'json' : String(c['dataType']).toLowerCase()
    const nullable = c['nullable'] === 'YES'
    byName.set(name, {
      name,
      dataType,
      columnType: String(c['columnType']),
      nullable,
      required: !nullable && c['def'] === null && !extra.includes('auto_increment') && !generated,
      generated,
      hasDefault: c['def'] !== null && String(c['def']).toUpperCase() !== 'NULL',
      family: familyOf(dataType),
    })
  }
  const [indexes] = await conn.execute<RowDataPacket[]>(
    `SELECT INDEX_NAME AS name, COLUMN_NAME AS col FROM information_schema.STATISTICS
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
    [database, table],
  )
  const unique = new Map<string, string[]>()
  for (const i of indexes) {
    const name = String(i['name'])
    unique.set(name, [...(unique.get(name) ?? []), String(i['col'])])
  }
  return {
    name: table,
    engine: String(found['engine'] ?? found['type'] ?? ''),
    columns: byName,
    uniqueKeys: [...unique].map(([name, cols]) => ({ name, columns: cols })),
  }
}

/** Storage engines with transactions: the rows and the offsets row commit together only on these. */
const TRANSACTIONAL_ENGINES = new Set(['innodb', 'xtradb', 'rocksdb', 'tokudb', 'ndbcluster', 'ndb'])

/** What the rows hold in a field, or the SQL type the user declared for it (`columns`). */
export type FieldSpec = Inferred | { readonly declared: string }

export interface FitRequest {
  readonly fields: ReadonlyMap<string, FieldSpec>
  readonly mode: 'append' | 'upsert'
  readonly key: readonly string[]
  /** Also report NOT NULL columns without a default that no field fills (once, with the first rows). */
  readonly required: boolean
}

/** Every reason the table cannot take the rows; empty when it fits. */
export function fitProblems(table: TableInfo, request: FitRequest): string[] {
  const problems: string[] = []
  if (!TRANSACTIONAL_ENGINES.has(table.engine.toLowerCase()))
    problems.push(
      `the table uses ENGINE=${table.engine || 'unknown'}, which has no transactions, so rows and offsets cannot commit together (ALTER TABLE ${quoteId(table.name)} ENGINE=InnoDB)`,
    )
  for (const [field, want] of request.fields) {
    const column = table.columns.get(field)
    if (!column) {
      problems.push(`${quoteId(field)}: the rows have this field, the table has no such column`)
      continue
    }
    if (column.generated) {
      problems.push(`${quoteId(field)}: a generated column, it takes no values`)
      continue
    }
    if ('seen' in want) {
      // A misfit only when no value seen fits: a few odd values are the rows' problem (dead letters), not the table's.
      const kinds = [...want.seen].filter((k) => k !== 'null')
      if (kinds.length > 0 && !kinds.some((k) => FITS[k].includes(column.family)))
        problems.push(
          `${quoteId(field)}: the rows hold ${kinds.map((k) => KIND_NAMES[k]).join(' and ')}, the column is ${column.columnType.toUpperCase()}`,
        )
    } else {
      const declaredFamily = familyOf(/^\s*([a-z]+(?:\s+precision)?)/i.exec(want.declared)?.[1] ?? '')
      if (declaredFamily !== column.family && !(declaredFamily === 'json' && column.family === 'text'))
        problems.push(
          `${quoteId(field)}: declared ${want.declared.toUpperCase()}, the column is ${column.columnType.toUpperCase()}`,
        )
    }
  }
  for (const column of table.columns.values()) {
    if (request.required && column.required && !request.fields.has(column.name))
      problems.push(
        `${quoteId(column.name)}: NOT NULL without a default, and the rows have no such field (every insert would fail)`,
      )
  }
  if (request.mode === 'upsert') {
    const key = [...request.key].sort()
    const match = table.uniqueKeys.some(
      (u) => u.columns.length === key.length && [...u.columns].sort().every((c, i) => c === key[i]),
    )
    if (!match) {
      const existing = table.uniqueKeys
        .map((u) => `${u.name} (${u.columns.map(quoteId).join(', ')})`)
        .join('; ')
      problems.push(
        `upsert on (${request.key.map(quoteId).join(', ')}) needs a PRIMARY KEY or UNIQUE index on exactly these columns; the table has ${existing || 'none'}`,
      )
    }
  }
  return problems
}

export function createTableSql(
  table: string,
  columns: readonly (readonly [string, string])[],
  key: readonly string[],
): string {
  const defs = columns.map(([name, type]) => `  ${quoteId(name)} ${type}`)
  if (key.length > 0) defs.push(`  PRIMARY KEY (${key.map(quoteId).join(', ')})`)
  return `CREATE TABLE IF NOT EXISTS ${quoteId(table)} (\n${defs.join(',\n')}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`
}

/**
 * A declared column type goes into DDL text, so it is checked, not trusted: a type name with an optional
 * length or precision and plain attributes, e.g. `VARCHAR(32)`, `DECIMAL(12, 2)`, `BIGINT UNSIGNED NOT NULL`,
 * `VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin`.
 */
export function checkColumnType(column: string, type: string): string {
  if (
    typeof type !== 'string' ||
    !/^[A-Za-z][A-Za-z0-9_]*(?:\s*\(\s*\d+(?:\s*,\s*\d+)?\s*\))?(?:\s+[A-Za-z0-9_]+)*$/.test(type.trim())
  )
    throw new UsageError(
      `mysql(): the type ${JSON.stringify(type)} of column ${JSON.stringify(column)} is not a plain SQL type such as VARCHAR(32), DECIMAL(12, 2) or BIGINT UNSIGNED.`,
    )
  return type.trim()
}

export function addColumnsSql(table: string, columns: readonly (readonly [string, string])[]): string {
  return `ALTER TABLE ${quoteId(table)} ${columns.map(([name, type]) => `ADD COLUMN ${quoteId(name)} ${type}`).join(', ')}`
}
