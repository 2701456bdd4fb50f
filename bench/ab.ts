/**
 * A/B comparison of two source trees on one machine that other people also use: loads the input once, then
 * runs a workload alternately from tree A and tree B (A, B, A, B, …) against the same broker and topic, so
 * both see the same disturbances, and prints each run and the medians.
 *
 *   node bench/ab.ts --a /tmp/sluice-base --b . --workload etl --events 500000 --rounds 3
 *
 * A tree is a checkout of this repository (e.g. `git archive <commit> | tar -x -C DIR` plus a
 * node_modules symlink); its own bench/workloads/<name>.ts runs, so each side measures its own engine.
 * The broker and the loading come from this tree.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadClickstream, loadStateTopic, startBroker } from './lib/broker.ts'
import { type LatencyTrigger, WORKLOADS, type WorkloadConfig, type WorkloadName } from './lib/config.ts'
import { derive } from './lib/report.ts'
import { killAllChildren, startChild } from './lib/spawn.ts'

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: '.' },
    workload: { type: 'string', default: 'etl' },
    events: { type: 'string', default: '500000' },
    rounds: { type: 'string', default: '3' },
    'state-keys': { type: 'string', default: '1000000' },
    'max-batch': { type: 'string', default: '20000' },
    trigger: { type: 'string', default: 'continuous' },
    rate: { type: 'string', default: '20000' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    'node-arg': { type: 'string', multiple: true },
    /** RunOptions.lingerMs per side (default: each engine's own). */
    'linger-a': { type: 'string' },
    'linger-b': { type: 'string' },
    /** How the etl pipelines validate, per side: zod (default) or json-schema. */
    'validator-a': { type: 'string' },
    'validator-b': { type: 'string' },
    /** Extra node flags for side B only (e.g. to compare a V8 setting on one tree). */
    'node-arg-b': { type: 'string', multiple: true },
  },
})
if (!values.a) {
  console.error('usage: node bench/ab.ts --a TREE [--b TREE] [--workload etl] [--events N] [--rounds R]')
  process.exit(2)
}
const workload = values.workload as WorkloadName
if (!WORKLOADS.includes(workload) || workload === 'ceiling') {
  console.error(`--workload: one of ${WORKLOADS.filter((w) => w !== 'ceiling').join(', ')}`)
  process.exit(2)
}
const trees = { A: resolve(values.a), B: resolve(values.b) }
const linger = { A: values['linger-a'], B: values['linger-b'] }
const validator = { A: values['validator-a'], B: values['validator-b'] }
const events = Number(values.events)
const rounds = Number(values.rounds)
const say = (line: string) => process.stderr.write(`${line}\n`)

const runId = `bench-ab-${Date.now().toString(36)}`
const broker = await startBroker(say)
const scratch: string[] = []
const rows: { side: string; eps: number; cpu: number; rss: number; extra: string }[] = []
try {
  const base: Omit<WorkloadConfig, 'workload' | 'checkpointDir' | 'runId'> = await (async () => {
    const common = {
      brokers: broker.brokers,
      maxBatchRecords: Number(values['max-batch']),
      rate: Number(values.rate),
      durationMs: Number(values.duration) * 1000,
      warmupMs: Number(values.warmup) * 1000,
    }
    if (workload === 'latency') return { ...common, inputTopic: '', inputRecords: 0, inputBytes: 0 }
    if (workload === 'state') {
      const topic = `${runId}-state`
      const keys = Number(values['state-keys'])
      const l = await loadStateTopic(broker.brokers, topic, keys)
      return {
        ...common,
        inputTopic: '',
        inputRecords: 0,
        inputBytes: 0,
        stateTopic: topic,
        stateRecords: l.records,
        stateBytes: l.bytes,
      }
    }
    const topic = `${runId}-input`
    say(`loading ${events} events…`)
    const l = await loadClickstream(broker.brokers, topic, events)
    return { ...common, inputTopic: topic, inputRecords: l.records, inputBytes: l.bytes }
  })()
  for (let round = 0; round < rounds; round++) {
    for (const side of ['A', 'B'] as const) {
      const dir = await mkdtemp(join(tmpdir(), 'sluice-ab-ckpt-'))
      scratch.push(dir)
      const config: WorkloadConfig = {
        ...base,
        workload,
        runId: `${runId}-${side}${round}`,
        checkpointDir: dir,
        ...(workload === 'latency' ? { trigger: values.trigger as LatencyTrigger } : {}),
        ...(linger[side] !== undefined ? { lingerMs: Number(linger[side]) } : {}),
        ...(validator[side] ? { validator: validator[side] as 'zod' | 'json-schema' } : {}),
      }
      const load = loadavg()[0]!.toFixed(2)
      const child = startChild(join(trees[side], 'bench', 'workloads', `${workload}.ts`), config, {
        timeoutMs: 600_000,
        nodeArgs: [
          ...(values['node-arg'] ?? []),
          ...(side === 'B' ? (values['node-arg-b'] ?? []) : []),
          ...(workload === 'state' ? ['--expose-gc'] : []),
        ],
        label: side,
        brokerPid: broker.pid,
      })
      const outcome = await child.done
      const r = outcome.result
      if (!r) {
        say(`${side} round ${round} failed: ${outcome.stderrTail}`)
        continue
      }
      const d = derive(r, undefined)
      const p = r.phases
      const extra = [
        r.latency ? `p50 ${r.latency.p50} p99 ${r.latency.p99} p99.9 ${r.latency.p999}` : '',
        p
          ? `poll ${p.poll} process ${p.process} ckpt ${p.checkpoint} sink ${p.sink} (${r.batches} batches)`
          : '',
        r.liveRssMB !== undefined
          ? `live RSS ${r.liveRssMB} heap used ${r.liveHeapUsedMB} of ${r.liveHeapTotalMB}, external ${r.liveExternalMB} (array buffers ${r.liveArrayBuffersMB})`
          : '',
        `other CPU ${outcome.otherCpuSeconds?.toFixed(1)} s, load ${load}`,
      ]
        .filter(Boolean)
        .join('; ')
      const row = {
        side,
        eps: d.eventsPerSecond ?? 0,
        cpu: d.cpuSecondsPerMillion ?? 0,
        rss: r.maxRssMB,
        extra,
      }
      rows.push(row)
      say(`${side}${round}: ${row.eps} ev/s, ${row.cpu} CPU s/1M, RSS ${row.rss} MB; ${extra}`)
    }
  }
  for (const side of ['A', 'B']) {
    const mine = rows.filter((r) => r.side === side)
    const med = (f: (r: (typeof rows)[number]) => number) => median(mine.map(f))
    console.log(
      `${side} (${trees[side as 'A' | 'B']}): median ${med((r) => r.eps)} ev/s, ${med((r) => r.cpu)} CPU s/1M, RSS ${med((r) => r.rss)} MB over ${mine.length} runs`,
    )
  }
} finally {
  killAllChildren()
  for (const dir of scratch) await rm(dir, { recursive: true, force: true })
  await broker.stop(runId)
}
process.exit(0)

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
