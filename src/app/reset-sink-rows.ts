/**
 * What `sluice reset` finds of a pipeline in its sink's own database: the rows of the tables where a SQL sink
 * keeps the pipeline's positions (and, for a keyed pipeline scaled out into it, its state). The
 * output and dead-letter tables are the user's, like output topics: reset lists what stays, never deletes it.
 */
export interface PipelineRows {
  /** The table as the database names it (schema-qualified for PostgreSQL). */
  readonly table: string
  readonly rows: number
  /** For a changelog table: the changelog (`<pipeline>-<step>-changelog`) the rows belong to. */
  readonly topic?: string
}

export interface SinkRowsFound {
  readonly rows: readonly PipelineRows[]
  /**
   * Offsets tables outside the ones looked in that hold a row of the pipeline (another schema): not deleted,
   * named so that the user can point reset at them.
   */
  readonly elsewhere: readonly string[]
}

export interface SinkDatabase {
  /** `postgres` or `mysql`: the flag that named it. */
  readonly kind: 'postgres' | 'mysql'
  /** The database without its password, for messages. */
  readonly display: string
  find(pipelineId: string): Promise<SinkRowsFound>
  /** Deletes the pipeline's rows of the tables `found` lists, in one transaction. */
  delete(pipelineId: string, found: readonly PipelineRows[]): Promise<void>
  close(): Promise<void>
}

/**
 * The other pipelines' ids that start with `<pipelineId>-`: their changelogs (`<other>-<step>-changelog`)
 * also start with the pipeline's prefix, and must not be taken for its own.
 */
export function ownChangelogs(
  pipelineId: string,
  topics: readonly string[],
  otherIds: readonly string[],
): string[] {
  const prefix = `${pipelineId}-`
  const longer = otherIds.filter((id) => id !== pipelineId && id.startsWith(prefix))
  return topics
    .filter((t) => t.startsWith(prefix) && t.endsWith('-changelog'))
    .filter((t) => !longer.some((other) => t.startsWith(`${other}-`)))
    .sort()
}

/** How pipelineRows() reads a sink's database (its SQL, quoting and binding), tables named as PipelineRows shows them. */
export interface SinkTablesReader {
  /** Rows per pipeline id that starts with `pipelineId` in a table of positions (a row per pipeline_id, …). */
  countPerPipeline(table: string, pipelineId: string): Promise<ReadonlyMap<string, number>>
  /** The distinct topics of a changelog table that start with `prefix`. */
  topics(table: string, prefix: string): Promise<readonly string[]>
  /** The rows of `topic` in a changelog table. */
  countTopic(table: string, topic: string): Promise<number>
}

/**
 * The pipeline's rows in the tables where a SQL sink keeps its positions and state, of those that exist:
 * `positions` (by pipeline id) and, for the changelogs that are its own (ownChangelogs), `state` and `ends`
 * (by topic).
 */
export async function pipelineRows(
  reader: SinkTablesReader,
  pipelineId: string,
  tables: {
    readonly positions: readonly string[]
    readonly state: string | undefined
    readonly ends: string | undefined
  },
): Promise<PipelineRows[]> {
  const rows: PipelineRows[] = []
  const otherIds = new Set<string>()
  for (const table of tables.positions)
    for (const [id, n] of await reader.countPerPipeline(table, pipelineId))
      if (id === pipelineId) rows.push({ table, rows: n })
      else otherIds.add(id)
  if (tables.ends === undefined) return rows
  const candidates = await reader.topics(tables.ends, `${pipelineId}-`)
  const changelogTables = tables.state === undefined ? [tables.ends] : [tables.state, tables.ends]
  for (const topic of ownChangelogs(pipelineId, candidates, [...otherIds]))
    for (const table of changelogTables) {
      const n = await reader.countTopic(table, topic)
      if (n > 0) rows.push({ table, rows: n, topic })
    }
  return rows
}
