/**
 * The input of the SQL sinks' 200k-event crash test and what the sinks must hold for any prefix of it:
 * clickstream events from the seeded generator (with malformed records mixed in), written once as JSON-lines
 * files that the pipelines in the child process read with files() (byte positions: a restart seeks instead
 * of regenerating). The expected rows come from the generator's records with a plain loop, not from a
 * pipeline: a malformed record is known by the generator's `injected` mark, a window by arithmetic.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ClickstreamGenerator } from '../../../src/clickstream/generator.ts'
import type { ClickEventRecord } from '../../../src/clickstream/zod-schema.ts'
import type { Positions } from '../../../src/runtime/source.ts'

export const EVENTS = 200_000
/** Files the events are rolled into, in time order, like hourly log files: each one a partition. */
export const FILES = 4
const SEED = 4242
/** 2,000 users keep 200 sessions going: the events span about 164 minutes, so there are many windows. */
const USERS = 2000
const BAD = 0.002
const START = Date.parse('2026-03-02T09:00:00Z')
const MINUTE = 60_000

/** What the append table holds per valid event: the projection the pipeline applies. */
export interface Click {
  readonly event_id: string
  readonly event_type: string
  readonly event_time: string
  readonly user_id: string
  readonly session_id: string
  readonly platform: string
  readonly country: string
  readonly path: string
  readonly product_id: string | null
  readonly price: number | null
  readonly cart_items: number | null
  readonly order_total: number | null
}

export function project(e: ClickEventRecord): Click {
  return {
    event_id: e.event_id,
    event_type: e.event_type,
    event_time: e.event_time,
    user_id: e.user_id,
    session_id: e.session_id,
    platform: e.platform,
    country: e.country,
    path: e.page.path,
    product_id: e.product?.id ?? null,
    price: e.product?.price ?? null,
    cart_items: e.cart?.items ?? null,
    order_total: e.order?.total ?? null,
  }
}

/** A row of the upsert table: events and cart items per event type and minute. */
export interface WindowCount {
  readonly key: string
  readonly window_start: string
  readonly events: number
  readonly items: number
}

/** One input line: where it is, and the row it must give (undefined: a malformed record, a dead letter). */
interface Line {
  readonly file: string
  readonly offset: number
  readonly click: Click | undefined
  readonly items: number
}

export function fileName(index: number): string {
  return `part-${index}.jsonl`
}

export interface CrashInput {
  readonly lines: readonly Line[]
  /** The position of every file once all of it was read: its last line's offset + 1, as sources count. */
  readonly end: Positions
}

/** Generates the events and writes them to `dir`, FILES files of EVENTS / FILES lines each. */
export async function writeCrashInput(dir: string): Promise<CrashInput> {
  const generator = new ClickstreamGenerator({ seed: SEED, users: USERS, startTime: START, bad: BAD })
  const lines: Line[] = []
  const end: Record<string, number> = {}
  const perFile = EVENTS / FILES
  for (let f = 0; f < FILES; f++) {
    const file = fileName(f)
    const chunks: Buffer[] = []
    let offset = 0
    for (let i = 0; i < perFile; i++) {
      end[file] = offset + 1
      const record = generator.next()
      const bad = record.injected?.startsWith('bad:') ?? false
      const event = bad ? undefined : (JSON.parse(record.value.toString('utf8')) as ClickEventRecord)
      lines.push({
        file,
        offset,
        click: event && project(event),
        items: event?.cart?.items ?? 0,
      })
      chunks.push(record.value, Buffer.from('\n'))
      offset += record.value.length + 1
    }
    await writeFile(join(dir, file), Buffer.concat(chunks))
  }
  return { lines, end }
}

/** The lines a pipeline has read once it committed `positions` (each file's next offset to read). */
function readUpTo(input: CrashInput, positions: Positions): Line[] {
  return input.lines.filter((line) => line.offset < (positions[line.file] ?? 0))
}

/** How many input lines (events and malformed records) the positions cover. */
export function linesRead(input: CrashInput, positions: Positions): number {
  return readUpTo(input, positions).length
}

export function expectedClicks(input: CrashInput, positions: Positions): Click[] {
  return readUpTo(input, positions).flatMap((line) => (line.click ? [line.click] : []))
}

export function expectedDeadLetters(input: CrashInput, positions: Positions): string[] {
  return readUpTo(input, positions)
    .filter((line) => !line.click)
    .map((line) => `${line.file}@${line.offset}`)
}

/** Update mode upserts every window a batch changed: the table holds the totals of what was read. */
export function expectedCounts(input: CrashInput, positions: Positions): WindowCount[] {
  const windows = new Map<string, { events: number; items: number }>()
  for (const line of readUpTo(input, positions)) {
    if (!line.click) continue
    const start = Math.floor(Date.parse(line.click.event_time) / MINUTE) * MINUTE
    const id = `${line.click.event_type}|${new Date(start).toISOString()}`
    const window = windows.get(id) ?? { events: 0, items: 0 }
    window.events++
    window.items += line.items
    windows.set(id, window)
  }
  return [...windows].map(([id, w]) => {
    const [key = '', window_start = ''] = id.split('|')
    return { key, window_start, ...w }
  })
}

const nullableNumber = (v: unknown) => (v === null ? null : Number(v))

/** A crash_clicks row read back from a database as a Click; `eventTime` is the row's event_time as ISO text. */
export function clickFromRow(r: Readonly<Record<string, unknown>>, eventTime: string): Click {
  return {
    event_id: String(r.event_id),
    event_type: String(r.event_type),
    event_time: eventTime,
    user_id: String(r.user_id),
    session_id: String(r.session_id),
    platform: String(r.platform),
    country: String(r.country),
    path: String(r.path),
    product_id: r.product_id === null ? null : String(r.product_id),
    price: nullableNumber(r.price),
    cart_items: nullableNumber(r.cart_items),
    order_total: nullableNumber(r.order_total),
  }
}
