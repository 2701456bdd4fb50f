/**
 * What the dashboard's live tap costs per record (issue 15 item 6), CPU only, no broker: the same batches of
 * clickstream events (0.5 % malformed, as `npm run bench` loads them) go through BatchProcessors of three
 * pipelines, each without the `taps` option (`etl`, …), with a Taps object nobody taps (`+idle`) and with one
 * open tap (`+open`):
 *
 *   etl     the benchmark's etl plan (bench/lib/pipelines.ts): parse (Zod) → map(project); tapped: parse
 *   objects decoded events → map(project) → filter, where the tap's own cost shows; tapped: map
 *   window  the benchmark's window plan: parse → watermark → keyBy → tumbling 1 m → aggregates, update mode;
 *           tapped: the window (a stateful operator, re-pointed at the tap's sampler)
 *
 * Taps sample at their limit, 10 records a second: the processors' clock advances one second a batch, so
 * every batch of a tapped processor is sampled (a reservoir over all of its records), as with the default
 * one-second trigger. Each mode runs in its own worker thread (its own V8 isolate, so its JIT's feedback is
 * its own, as in a process of its own); the modes take turns, a pass each per round in a rotated order, so
 * that machine noise hits them alike. Each prints its CPU ns per input record (its thread's CPU time: other
 * processes on the machine take turns, so wall time would count them), the median over rounds with the
 * quartiles, and each tapped mode its cost over the untapped one paired by round.
 *
 *   node bench/micro/tap.ts [--rounds 30] [--records 20000] [--batch 20000] [--only etl,etl+open]
 */

import { parseArgs } from 'node:util'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { ClickstreamGenerator } from '../../src/clickstream/generator.ts'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import type { Plan } from '../../src/plan/nodes.ts'
import { BatchProcessor } from '../../src/runtime/processor.ts'
import type { SourceRecord } from '../../src/runtime/source.ts'
import { Taps } from '../../src/runtime/tap.ts'
import { etlPipeline, type PipelineTopics, project, windowPipeline } from '../lib/pipelines.ts'

interface ModeSpec {
  readonly name: string
  /** The untapped mode this one is compared with. */
  readonly baseline?: string
}
const MODES: readonly ModeSpec[] = [
  { name: 'etl' },
  { name: 'etl+idle', baseline: 'etl' },
  { name: 'etl+open', baseline: 'etl' },
  { name: 'objects' },
  { name: 'objects+idle', baseline: 'objects' },
  { name: 'objects+open', baseline: 'objects' },
  { name: 'window' },
  { name: 'window+open', baseline: 'window' },
]
/** Passes over the batches per round: a cheap chain's turn lasts about as long as the others'. */
const REPEAT: Readonly<Record<string, number>> = { objects: 20 }

interface WorkerInput {
  readonly mode: string
  readonly records: number
  readonly batch: number
}

if (isMainThread) await drive()
else serve(workerData as WorkerInput)

async function drive(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '30' },
      records: { type: 'string', default: '20000' },
      batch: { type: 'string', default: '20000' },
      only: { type: 'string' },
    },
  })
  const rounds = Number(values.rounds)
  const only = values.only?.split(',')
  const modes = only ? MODES.filter((m) => only.includes(m.name)) : MODES
  if (modes.length === 0) throw new Error(`--only: none of ${values.only} is a mode`)
  const input = { records: Number(values.records), batch: Number(values.batch) }
  const workers = new Map(
    modes.map((m) => [
      m.name,
      new Worker(new URL(import.meta.url), { workerData: { ...input, mode: m.name } }),
    ]),
  )
  const ask = (worker: Worker) =>
    new Promise<{ ns: number; sampled: number }>((resolve, reject) => {
      const fail = (error: Error) => reject(error)
      worker.once('error', fail)
      worker.once('message', (answer: { ns: number; sampled: number }) => {
        worker.off('error', fail)
        resolve(answer)
      })
      worker.postMessage('pass')
    })
  // A first pass each, not counted: the JIT's first compilations and the window's state.
  await Promise.all([...workers.values()].map(ask))
  const perRound = new Map<string, number[]>(modes.map((m) => [m.name, []]))
  let sampled = 0
  for (let round = 0; round < rounds; round++)
    for (let i = 0; i < modes.length; i++) {
      const mode = modes[(round + i) % modes.length]!
      const answer = await ask(workers.get(mode.name)!)
      perRound.get(mode.name)!.push(answer.ns)
      sampled += answer.sampled
    }
  for (const worker of workers.values()) await worker.terminate()

  const quantile = (sorted: readonly number[], q: number) => sorted[Math.round(q * (sorted.length - 1))]!
  const sortedOf = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)
  const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} %`
  console.log(
    `${input.records} clickstream events in batches of ${input.batch}, ${rounds} rounds (${sampled} records sampled by the open taps):`,
  )
  console.log(
    '  mode           CPU ns/record  (quartiles)      over the untapped, paired by round (quartiles)',
  )
  for (const mode of modes) {
    const ns = perRound.get(mode.name)!
    const s = sortedOf(ns)
    let line = `  ${mode.name.padEnd(14)} ${quantile(s, 0.5).toFixed(0).padStart(9)}  (${quantile(s, 0.25).toFixed(0)}–${quantile(s, 0.75).toFixed(0)})`
    const base = mode.baseline ? perRound.get(mode.baseline) : undefined
    if (base) {
      const pct = sortedOf(ns.map((x, i) => (x / base[i]! - 1) * 100))
      line = `${line.padEnd(48)} ${signed(quantile(pct, 0.5))} (${signed(quantile(pct, 0.25))} … ${signed(quantile(pct, 0.75))})`
    }
    console.log(line)
  }
}

/** One mode's processor in this worker: a pass over the batches per message, answered with its CPU ns per record. */
function serve(input: WorkerInput): void {
  const [pipelineName, variant] = input.mode.split('+') as [string, string | undefined]
  const raw = clickstream(input.records)
  const { plan, records, tapped } =
    pipelineName === 'etl'
      ? { plan: etlPipeline(topics('etl')).plan, records: raw, tapped: 'parse' }
      : pipelineName === 'window'
        ? { plan: windowPipeline(topics('window')).plan, records: raw, tapped: 'window' }
        : { plan: objectsPlan(), records: decoded(raw), tapped: 'map' }
  let sampled = 0
  const taps = variant === undefined ? undefined : new Taps({ perSecond: 10 })
  if (variant === 'open') taps?.open(plan.pipelineId, tapped, (sample) => (sampled += sample.length))
  const processor = new BatchProcessor(plan, taps ? { taps } : {})
  const batches: SourceRecord[][] = []
  for (let i = 0; i < records.length; i += input.batch) batches.push(records.slice(i, i + input.batch))
  const repeat = REPEAT[pipelineName] ?? 1
  let now = Date.parse('2026-01-01')
  parentPort?.on('message', () => {
    sampled = 0
    let count = 0
    const start = process.threadCpuUsage()
    for (let i = 0; i < repeat; i++)
      for (const batch of batches) {
        now += 1000
        processor.process(
          { batchId: now, records: batch, watermark: Number.NEGATIVE_INFINITY, batchTime: now },
          now,
        )
        count += batch.length
      }
    const used = process.threadCpuUsage(start)
    parentPort?.postMessage({ ns: ((used.user + used.system) * 1000) / count, sampled })
  })
}

/** The pipelines are only compiled to plans: nothing connects to these brokers. */
function topics(id: string): PipelineTopics {
  return { id, brokers: '127.0.0.1:1', input: 'in', output: 'out', deadLetters: 'dlq' }
}

function objectsPlan(): Plan {
  return pipeline('objects')
    .from(memorySource<Parameters<typeof project>[0]>('events'))
    .map(project)
    .filter((row) => row.price !== 0)
    .to(memory()).plan
}

function clickstream(count: number): SourceRecord[] {
  const generator = new ClickstreamGenerator({
    seed: 1,
    users: 100_000,
    startTime: Date.parse('2026-01-01'),
    bad: 0.005,
  })
  return Array.from({ length: count }, (_, offset) => {
    const { key, value } = generator.next()
    return { partition: 'in:0', offset, key, value, timestamp: 0 }
  })
}

/** The events decoded, the malformed ones left out. */
function decoded(records: readonly SourceRecord[]): SourceRecord[] {
  return records.flatMap((record) => {
    try {
      return [{ ...record, value: JSON.parse(String(record.value)) as object }]
    } catch {
      return []
    }
  })
}
