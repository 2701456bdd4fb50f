/** The benchmark's results: derived figures, the table, the targets, the JSON file and comparisons. */
import { readFileSync } from 'node:fs'
import type { WorkloadResult } from './config.ts'
import type { ProfileSummary } from './cpuprofile.ts'

export interface WorkloadRecord {
  readonly name: string
  readonly status: 'ok' | 'failed' | 'timed out'
  readonly error?: string
  readonly result?: WorkloadResult
  readonly eventsPerSecond?: number
  /** Events/s after the start-up (connect, group join, first fetch): the rate of the batches themselves. */
  readonly steadyEventsPerSecond?: number
  readonly mbPerSecond?: number
  readonly cpuSecondsPerMillion?: number
  readonly percentOfCeiling?: number
  /** Broker JVM CPU seconds while the workload ran (own broker only). */
  readonly brokerCpuSeconds?: number
  /**
   * CPU seconds used by other user processes (someone else's tests, …) while the workload ran, from /proc.
   * More than a few tenths means the throughput and latency figures of that workload are disturbed.
   */
  readonly otherCpuSeconds?: number
  /** CPU seconds the whole machine was busy meanwhile (all processes and the kernel, /proc/stat). */
  readonly machineBusySeconds?: number
  /** The workload process's lifetime, including start-up and shutdown. */
  readonly processSeconds: number
  /** 1-, 5- and 15-minute load averages just before the workload started. */
  readonly loadAverageBefore: readonly number[]
}

export interface TargetCheck {
  readonly target: string
  readonly value: string
  readonly met: boolean | null
}

export interface BenchReport {
  readonly version: 1
  readonly date: string
  readonly commit: string
  readonly dirty: boolean
  readonly machine: {
    readonly cpuModel: string
    readonly cores: number
    readonly totalMemoryGB: number
    readonly os: string
    readonly loadAverageAtStart: readonly number[]
    /** The busiest other processes when the run started (ps), to judge how quiet the machine was. */
    readonly busiestProcessesAtStart: readonly string[]
  }
  readonly node: string
  readonly broker: string
  readonly events: number
  readonly options: Readonly<Record<string, unknown>>
  readonly load: Readonly<Record<string, { records: number; bytes: number; seconds: number; bad: number }>>
  readonly workloads: readonly WorkloadRecord[]
  readonly targets: readonly TargetCheck[]
  readonly profile?: ProfileSummary
  readonly totalSeconds: number
}

/** Events/s, MB/s, CPU per million events and share of the ceiling, from a workload's raw result. */
export function derive(
  result: WorkloadResult,
  ceilingEventsPerSecond: number | undefined,
): Pick<
  WorkloadRecord,
  'eventsPerSecond' | 'steadyEventsPerSecond' | 'mbPerSecond' | 'cpuSecondsPerMillion' | 'percentOfCeiling'
> {
  const eventsPerSecond = result.seconds > 0 ? result.events / result.seconds : 0
  const steady = result.seconds - result.startupSeconds
  const cpu = result.cpuUserSeconds + result.cpuSystemSeconds
  const throughput = !result.latency
  return {
    eventsPerSecond: Math.round(eventsPerSecond),
    ...(throughput && steady > 0 ? { steadyEventsPerSecond: Math.round(result.events / steady) } : {}),
    mbPerSecond: result.bytes > 0 ? round1(result.bytes / 1e6 / result.seconds) : 0,
    cpuSecondsPerMillion: result.events > 0 ? round2((cpu * 1e6) / result.events) : 0,
    ...(throughput && ceilingEventsPerSecond && result.workload !== 'state'
      ? { percentOfCeiling: Math.round((eventsPerSecond / ceilingEventsPerSecond) * 1000) / 10 }
      : {}),
  }
}

const round1 = (n: number) => Math.round(n * 10) / 10
const round2 = (n: number) => Math.round(n * 100) / 100

/** The issue's targets, checked against what was measured (null: not measured in this run). */
export function checkTargets(workloads: readonly WorkloadRecord[], rate: number): TargetCheck[] {
  const find = (name: string) => workloads.find((w) => w.name === name && w.status === 'ok')
  const etl = find('etl')
  const latency = find('latency-continuous')
  const state = find('state')
  const checks: TargetCheck[] = []
  checks.push({
    target: '(a) etl at least 60 % of the ceiling',
    value: etl?.percentOfCeiling !== undefined ? `${etl.percentOfCeiling} %` : 'not measured',
    met: etl?.percentOfCeiling !== undefined ? etl.percentOfCeiling >= 60 : null,
  })
  checks.push({
    target: '(a) etl at least 150k events/s',
    value: etl ? `${etl.eventsPerSecond} events/s` : 'not measured',
    met: etl ? (etl.eventsPerSecond ?? 0) >= 150_000 : null,
  })
  const p99 = latency?.result?.latency?.p99
  checks.push({
    target: 'p99 latency under 100 ms, continuous trigger, 20k events/s',
    value:
      p99 !== undefined
        ? `${p99} ms at ${latency?.result?.latency?.achievedRate} events/s${rate !== 20_000 ? ` (--rate ${rate})` : ''}`
        : 'not measured',
    met: p99 !== undefined && rate === 20_000 ? p99 < 100 : null,
  })
  const keys = state?.result?.stateRows
  checks.push({
    target: '1M live window keys under 600 MB RSS',
    value: state
      ? `${keys} keys, ${state.result?.maxRssMB} MB peak RSS${state.result?.liveRssMB !== undefined ? ` (${state.result.liveRssMB} MB RSS and ${state.result.liveHeapUsedMB} MB heap live after a full GC)` : ''}`
      : 'not measured',
    met: state && keys !== undefined ? keys >= 1_000_000 && (state.result?.maxRssMB ?? 0) < 600 : null,
  })
  return checks
}

function pad(text: string, width: number, right = true): string {
  return right ? text.padStart(width) : text.padEnd(width)
}

const fmt = (n: number | undefined, digits = 0) =>
  n === undefined
    ? '-'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

/** The results table, one line per workload. */
export function table(workloads: readonly WorkloadRecord[]): string {
  const header = [
    ['workload', 20, false],
    ['events', 10],
    ['seconds', 8],
    ['events/s', 9],
    ['MB/s', 6],
    ['p50 ms', 7],
    ['p99 ms', 7],
    ['p99.9 ms', 8],
    ['peak RSS MB', 11],
    ['CPU s/1M', 8],
    ['% ceiling', 9],
    ['broker CPU s', 12],
    ['other CPU s', 11],
  ] as const
  const lines: string[] = []
  lines.push(header.map(([h, w, r]) => pad(h, w, r !== false)).join('  '))
  lines.push(header.map(([, w]) => '-'.repeat(w)).join('  '))
  for (const w of workloads) {
    const r = w.result
    if (!r || w.status !== 'ok') {
      lines.push(`${pad(w.name, 20, false)}  ${w.status.toUpperCase()}: ${(w.error ?? '').split('\n')[0]}`)
      continue
    }
    const l = r.latency
    const cells = [
      pad(w.name, 20, false),
      pad(fmt(r.events), 10),
      pad(fmt(r.seconds, 2), 8),
      pad(l ? `${fmt(l.achievedRate)}*` : fmt(w.eventsPerSecond), 9),
      pad(l ? '-' : fmt(w.mbPerSecond, 1), 6),
      pad(l ? fmt(l.p50, 1) : '-', 7),
      pad(l ? fmt(l.p99, 1) : '-', 7),
      pad(l ? fmt(l.p999, 1) : '-', 8),
      pad(fmt(r.maxRssMB), 11),
      pad(fmt(w.cpuSecondsPerMillion, 1), 8),
      pad(w.percentOfCeiling !== undefined ? `${fmt(w.percentOfCeiling, 1)} %` : '-', 9),
      pad(w.brokerCpuSeconds !== undefined ? fmt(w.brokerCpuSeconds, 1) : '-', 12),
      pad(w.otherCpuSeconds !== undefined ? fmt(w.otherCpuSeconds, 1) : '-', 11),
    ]
    lines.push(cells.join('  '))
  }
  if (workloads.some((w) => w.result?.latency))
    lines.push('* latency rows: the input rate achieved by the producer, not a throughput ceiling')
  return lines.join('\n')
}

/** Where the batches spent their time, per workload (share of the summed batch durations). */
export function phaseTable(workloads: readonly WorkloadRecord[]): string {
  const lines = [
    `${'workload'.padEnd(20)}  batches  poll  process  checkpoint  sink  start-up s  after start-up events/s  state rows`,
  ]
  for (const w of workloads) {
    if (!w.result || w.status !== 'ok') continue
    const p = w.result.phases
    const share = (ms: number | undefined) =>
      p && ms !== undefined ? `${Math.round((ms / Math.max(1, p.total)) * 100)} %` : '-'
    lines.push(
      [
        w.name.padEnd(20),
        String(w.result.batches).padStart(7),
        share(p?.poll).padStart(4),
        share(p?.process).padStart(7),
        share(p?.checkpoint).padStart(10),
        share(p?.sink).padStart(4),
        w.result.startupSeconds.toFixed(2).padStart(10),
        (w.steadyEventsPerSecond !== undefined ? fmt(w.steadyEventsPerSecond) : '-').padStart(23),
        fmt(w.result.stateRows).padStart(10),
      ].join('  '),
    )
  }
  return lines.join('\n')
}

export function targetsText(checks: readonly TargetCheck[]): string {
  return checks
    .map((c) => `${c.met === null ? '  n/a ' : c.met ? '  MET ' : ' MISSED'}  ${c.target}: ${c.value}`)
    .join('\n')
}

/** Per-workload ratios B / A of two result files. */
export function compare(fileA: string, fileB: string): string {
  const a = JSON.parse(readFileSync(fileA, 'utf8')) as BenchReport
  const b = JSON.parse(readFileSync(fileB, 'utf8')) as BenchReport
  const ratio = (x: number | undefined, y: number | undefined) =>
    x && y !== undefined ? `${(y / x).toFixed(2)}x` : '-'
  const lines = [
    `A: ${fileA} (${a.commit}, ${a.events} events, ${a.date})`,
    `B: ${fileB} (${b.commit}, ${b.events} events, ${b.date})`,
    '',
    `${'workload'.padEnd(20)}  ${'events/s A'.padStart(10)}  ${'events/s B'.padStart(10)}  B/A    ${'p99 A'.padStart(7)}  ${'p99 B'.padStart(7)}  B/A    ${'RSS A'.padStart(6)}  ${'RSS B'.padStart(6)}  B/A    CPU/1M B/A`,
  ]
  for (const wa of a.workloads) {
    const wb = b.workloads.find((w) => w.name === wa.name)
    if (!wb) continue
    const la = wa.result?.latency
    const lb = wb.result?.latency
    const rateA = la ? la.achievedRate : wa.eventsPerSecond
    const rateB = lb ? lb.achievedRate : wb.eventsPerSecond
    lines.push(
      [
        wa.name.padEnd(20),
        fmt(rateA).padStart(10),
        fmt(rateB).padStart(10),
        ratio(rateA, rateB).padEnd(5),
        (la ? fmt(la.p99, 1) : '-').padStart(7),
        (lb ? fmt(lb.p99, 1) : '-').padStart(7),
        ratio(la?.p99, lb?.p99).padEnd(5),
        fmt(wa.result?.maxRssMB).padStart(6),
        fmt(wb.result?.maxRssMB).padStart(6),
        ratio(wa.result?.maxRssMB, wb.result?.maxRssMB).padEnd(5),
        ratio(wa.cpuSecondsPerMillion, wb.cpuSecondsPerMillion),
      ].join('  '),
    )
  }
  return lines.join('\n')
}
