import type pg from 'pg'
import type { DeadLetter, OutputBatch } from '../../runtime/sink.ts'
import { rowText, utf8Text } from '../sql/index.ts'
import { encodeValue } from './columns.ts'
import { copyIn } from './copy.ts'
import { displayName, qualified } from './identifiers.ts'
import type { PostgresSettings } from './options.ts'
import type { BadRow } from './write-rows.ts'

export function deadLetterTableSql(settings: PostgresSettings): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(settings.deadLetters)} (id bigserial PRIMARY KEY, pipeline_id text NOT NULL, ` +
    'batch_id bigint NOT NULL, operator text NOT NULL, reason text NOT NULL, sqlstate text, detail text, ' +
    'source_partition text, source_offset bigint, key text, raw bytea, raw_text text, ' +
    'created_at timestamptz NOT NULL DEFAULT now())'
  )
}

/** The pipeline's dead letters and the rows the table rejected, with COPY, in the batch's transaction. */
export async function writeDeadLetters(
  client: pg.ClientBase,
  batch: OutputBatch<unknown>,
  bad: readonly BadRow[],
  settings: PostgresSettings,
  pipelineId: string,
): Promise<void> {
  const { deadLetters } = settings
  const operator = `sink:${displayName(settings.table)}`
  const lines: string[] = []
  const line = (values: readonly unknown[]) => values.map((v) => encodeValue(v, false)).join('\t') + '\n'
  for (const letter of batch.deadLetters) {
    const { raw, text } = rawColumns(letter)
    lines.push(
      line([
        pipelineId,
        batch.batchId,
        clean(letter.operator),
        clean(letter.reason),
        null,
        null,
        clean(letter.partition),
        Number.isSafeInteger(letter.offset) ? letter.offset : null,
        letter.key === null ? null : clean(letter.key),
        raw,
        text,
      ]),
    )
  }
  for (const b of bad) {
    const key = rowKey(b, settings)
    lines.push(
      line([
        pipelineId,
        batch.batchId,
        operator,
        clean(b.error.message),
        b.error.code ?? null,
        b.error.detail === undefined ? null : clean(b.error.detail),
        null,
        null,
        key === null ? null : clean(key),
        null,
        clean(rowText(b.row)),
      ]),
    )
  }
  await copyIn(
    client,
    `COPY ${qualified(deadLetters)} (pipeline_id, batch_id, operator, reason, sqlstate, detail, source_partition, source_offset, key, raw, raw_text) FROM STDIN`,
    lines.length,
    (i) => lines[i]!,
  )
}

/** The dead letter's key: the upsert key's values as JSON, or the row's `key` field. */
export function rowKey(bad: BadRow, settings: PostgresSettings): string | null {
  if (bad.row === null || typeof bad.row !== 'object') return null
  const row = bad.row as Readonly<Record<string, unknown>>
  if (settings.mode === 'upsert') return rowText(settings.key.map((k) => row[k] ?? null))
  return typeof row.key === 'string' || typeof row.key === 'number' ? String(row.key) : null
}

/** Text columns cannot hold NUL characters. */
function clean(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text
}

/** The raw bytes as bytea, and as text when they are valid UTF-8 (most are JSON), for querying. */
function rawColumns(letter: DeadLetter): { raw: Buffer | null; text: string | null } {
  if (letter.raw === null) return { raw: null, text: null }
  if (typeof letter.raw === 'string') return { raw: null, text: clean(letter.raw) }
  const text = utf8Text(letter.raw)
  return { raw: letter.raw, text: text === undefined || text.includes('\u0000') ? null : text }
}
