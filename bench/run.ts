/**
 * The engine benchmark (`npm run bench`): see bench/README.md.
 *
 *   node bench/run.ts [--events 2000000] [--workload NAME]… [--rate 20000] [--out FILE] [--profile]
 *   node bench/run.ts --compare A.json B.json
 *
 * Starts its own broker in a temporary directory (stopped at the end, also on failure or Ctrl-C) unless
 * $KAFKA_BROKERS names one, loads the clickstream topic once, then runs each workload in its own process.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, release, tmpdir, totalmem, type } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { SLUICE_NODE_FLAGS } from '../src/cli/node-flags.ts'
import { registryEncoder } from '../src/producer/registry-encoding.ts'
import { startRegistry, type TestRegistry } from '../test/helpers/apicurio.ts'
import {
  abortBrokerStart,
  type BenchBroker,
  type LoadResult,
  loadClickstream,
  loadStateTopic,
  startBroker,
} from './lib/broker.ts'
import { latencyName, WORKLOADS, type WorkloadConfig, type WorkloadName } from './lib/config.ts'
import { type ProfileSummary, profileText, summariseProfile } from './lib/cpuprofile.ts'
import {
  type BenchReport,
  checkTargets,
  compare,
  derive,
  phaseTable,
  table,
  targetsText,
  type WorkloadRecord,
} from './lib/report.ts'
import { killAllChildren, startChild, workloadScript } from './lib/spawn.ts'

const USAGE = `usage: node bench/run.ts [options]
  --events N        clickstream events to load and process (default 2000000)
  --workload NAME   run only this workload (repeatable): ${WORKLOADS.join(', ')} (default: all)
  --rate R[,R…]     input rates of the latency workload, events/s (default 20000,10000,50000): the first
                    with the floor, continuous and 1 s triggers (and the target), the others floor + continuous
  --suite sinks     only the per-sink overhead check (the same as --workload sinks)
  --sink-rows N     rows of the sinks workload (default 1000000)
  --duration S      how long the latency workload produces, seconds (default 30)
  --warmup S        seconds at the start of the latency run left out of the figures (default 5)
  --state-keys N    distinct keys of the state workload (default 1000000)
  --max-batch N     maxBatchRecords of the pipelines and poll size of the ceiling (default 20000, the engine's)
  --validator V     how the etl pipelines validate: zod (default) or json-schema (ajv, the repository schema)
  --linger MS       lingerMs of the pipelines (RunOptions; default: the engine's, 20 ms)
  --timeout S       a workload still running after this long is killed and reported (default 600)
  --profile         also run the etl workload under --cpu-prof and summarise the profile
  --out FILE        where to write the JSON results (default bench/results/<date>-<commit>.json)
  --node-arg ARG    pass ARG to every workload process's node (repeatable, after Sluice's own flags from
                    src/cli/node-flags.ts, so it can override them), e.g. --node-arg=--max-semi-space-size=32
  --verbose         forward the workload processes' stderr
  --compare A B     print per-workload ratios B/A of two result files, run nothing`

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    events: { type: 'string', default: '2000000' },
    workload: { type: 'string', multiple: true },
    rate: { type: 'string', default: '20000,10000,50000' },
    suite: { type: 'string' },
    'sink-rows': { type: 'string', default: '1000000' },
    duration: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
    'state-keys': { type: 'string', default: '1000000' },
    'max-batch': { type: 'string', default: '20000' },
    linger: { type: 'string' },
    validator: { type: 'string', default: 'zod' },
    timeout: { type: 'string', default: '600' },
    profile: { type: 'boolean', default: false },
    out: { type: 'string' },
    'node-arg': { type: 'string', multiple: true },
    verbose: { type: 'boolean', default: false },
    compare: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
})

if (values.help) {
  console.log(USAGE)
  process.exit(0)
}
if (values.compare) {
  const [a, b] = positionals
  if (!a || !b) {
    console.error('--compare needs two result files: --compare A.json B.json')
    process.exit(2)
  }
  console.log(compare(a, b))
  process.exit(0)
}

function positive(name: string, text: string | undefined): number {
  const n = Number(text)
  if (!(Number.isFinite(n) && n > 0)) {
    console.error(`--${name}: expected a positive number, got ${text}\n\n${USAGE}`)
    process.exit(2)
  }
  return n
}

const events = Math.round(positive('events', values.events))
const rates = String(values.rate)
  .split(',')
  .map((r) => positive('rate', r))
const rate = rates[0]!
const sinkRows = Math.round(positive('sink-rows', values['sink-rows']))
if (values.suite !== undefined && values.suite !== 'sinks') {
  console.error(`--suite: the only suite is "sinks" (the default runs everything)`)
  process.exit(2)
}
const durationMs = positive('duration', values.duration) * 1000
const warmupMs = Number(values.warmup) * 1000
const stateKeys = Math.round(positive('state-keys', values['state-keys']))
const maxBatchRecords = Math.round(positive('max-batch', values['max-batch']))
const timeoutMs = positive('timeout', values.timeout) * 1000
const lingerMs = values.linger === undefined ? undefined : Number(values.linger)
if (lingerMs !== undefined && !(Number.isFinite(lingerMs) && lingerMs >= 0)) {
  console.error(`--linger: expected a number of milliseconds, got ${values.linger}`)
  process.exit(2)
}
const validator = values.validator
if (validator !== 'zod' && validator !== 'json-schema') {
  console.error(`--validator: expected zod or json-schema, got ${validator}`)
  process.exit(2)
}
if (!(warmupMs >= 0 && warmupMs < durationMs)) {
  console.error('--warmup: expected at least 0 and less than --duration')
  process.exit(2)
}
const selected: WorkloadName[] = []
for (const w of values.workload ?? (values.suite ? [values.suite] : WORKLOADS)) {
  if (!(WORKLOADS as readonly string[]).includes(w)) {
    console.error(`--workload: unknown workload "${w}"; expected one of ${WORKLOADS.join(', ')}`)
    process.exit(2)
  }
  if (!selected.includes(w as WorkloadName)) selected.push(w as WorkloadName)
}
// The ceiling first, so the others can be expressed as a share of it; then in the documented order.
selected.sort((a, b) => WORKLOADS.indexOf(a) - WORKLOADS.indexOf(b))

const repoRoot = fileURLToPath(new URL('../', import.meta.url))
const say = (line: string) => process.stderr.write(`${line}\n`)

function git(args: string[]): string {
  try {
    return execFileSync('git', args, {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    return ''
  }
}

function busiestProcesses(): string[] {
  try {
    const out = execFileSync('ps', ['-eo', 'pcpu,rss,args', '--sort=-pcpu'], { encoding: 'utf8' })
    return out
      .split('\n')
      .slice(1, 7)
      .map((l) => l.trim().replace(/\s+/g, ' ').slice(0, 160))
      .filter(Boolean)
  } catch {
    return []
  }
}

const started = performance.now()
const commit = git(['rev-parse', '--short', 'HEAD']) || 'unknown'
const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== ''
const machine = {
  cpuModel: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  totalMemoryGB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
  os: `${type()} ${release()}`,
  loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  busiestProcessesAtStart: busiestProcesses(),
}
say(
  `Sluice engine benchmark: ${events} events, workloads ${selected.join(', ')}; ${machine.cores} × ${machine.cpuModel}, load average ${machine.loadAverageAtStart.join(' ')}`,
)

const runId = `bench-${Date.now().toString(36)}`
let broker: BenchBroker | undefined
/** The schema registry of etl-avro (Apicurio Registry, started only for it). */
let schemaRegistry: TestRegistry | undefined
const scratch: string[] = []

let stopping = false
let cleaning: Promise<void> | undefined
/** Kills the workloads, removes scratch directories, stops the broker: once, however often it is called. */
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    killAllChildren()
    await schemaRegistry
      ?.stop()
      .catch((error: unknown) => say(`stopping the registry failed: ${String(error)}`))
    for (const dir of scratch) await rm(dir, { recursive: true, force: true }).catch(() => {})
    const b = broker
    broker = undefined
    if (b) {
      say(b.own ? 'Stopping the broker…' : 'Deleting the benchmark topics…')
      await b.stop(runId).catch((error: unknown) => say(`cleaning up the broker failed: ${String(error)}`))
    } else {
      // Interrupted while the broker was starting.
      await abortBrokerStart()
    }
  })()
  return cleaning
}
// A reader that goes away (`npm run bench | head`) must not crash the run before it stops its broker.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (stopping) return
    stopping = true
    say(`\n${signal}: stopping the workloads and the broker…`)
    void cleanUp().finally(() => process.exit(130))
    // The main flow also ends up in cleanUp() (the same promise) and must not exit before it is done.
  })
}

async function freshDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  scratch.push(dir)
  return dir
}

function needsClickstream(w: WorkloadName): boolean {
  return w !== 'state' && w !== 'latency' && w !== 'sinks'
}

async function runOne(
  name: string,
  script: string,
  config: WorkloadConfig,
  ceiling: number | undefined,
  nodeArgs: string[] = [],
): Promise<WorkloadRecord> {
  const loadAverageBefore = loadavg().map((l) => Math.round(l * 100) / 100)
  say(`Running ${name} (load average ${loadAverageBefore.join(' ')})…`)
  const child = startChild(script, config, {
    timeoutMs,
    nodeArgs: [...SLUICE_NODE_FLAGS, ...(values['node-arg'] ?? []), ...nodeArgs],
    label: name,
    verbose: values.verbose,
    brokerPid: broker?.pid,
  })
  const outcome = await child.done
  const base = {
    name,
    processSeconds: Math.round(outcome.wallSeconds * 100) / 100,
    loadAverageBefore,
    ...(outcome.brokerCpuSeconds !== undefined
      ? { brokerCpuSeconds: Math.round(outcome.brokerCpuSeconds * 10) / 10 }
      : {}),
  }
  if (outcome.timedOut) {
    say(`  ${name} timed out after ${timeoutMs / 1000} s`)
    return { ...base, status: 'timed out', error: `killed after ${timeoutMs / 1000} s` }
  }
  if (!outcome.result || outcome.exitCode !== 0) {
    const error = `exit ${outcome.exitCode ?? outcome.signal}: ${outcome.stderrTail}`
    say(`  ${name} failed: ${error}`)
    return { ...base, status: 'failed', error }
  }
  const r = outcome.result
  const other = outcome.otherCpuSeconds
  const record: WorkloadRecord = {
    ...base,
    status: 'ok',
    result: r,
    ...derive(r, ceiling),
    ...(other !== undefined ? { otherCpuSeconds: Math.round(other * 10) / 10 } : {}),
    ...(outcome.machineBusySeconds !== undefined
      ? { machineBusySeconds: Math.round(outcome.machineBusySeconds * 10) / 10 }
      : {}),
  }
  say(
    r.latency
      ? `  ${name}: p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, p99.9 ${r.latency.p999} ms at ${r.latency.achievedRate} events/s; peak RSS ${r.maxRssMB} MB`
      : `  ${name}: ${r.events} events in ${r.seconds.toFixed(2)} s = ${record.eventsPerSecond} events/s; peak RSS ${r.maxRssMB} MB${r.liveRssMB !== undefined ? ` (live after GC: ${r.liveRssMB} MB RSS, ${r.liveHeapUsedMB} MB heap)` : ''}`,
  )
  for (const note of r.notes ?? []) say(`  note: ${note}`)
  return record
}

async function profileEtl(config: WorkloadConfig): Promise<ProfileSummary | undefined> {
  const dir = await freshDir('sluice-bench-prof-')
  const record = await runOne(
    'etl (profiled)',
    workloadScript('etl'),
    {
      ...config,
      workload: 'etl',
      runId: `${runId}-prof`,
      checkpointDir: await freshDir('sluice-bench-ckpt-'),
    },
    undefined,
    ['--cpu-prof', `--cpu-prof-dir=${dir}`],
  )
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
  if (record.status !== 'ok' || !file) {
    say('  the profiled run produced no profile')
    return undefined
  }
  // Kept (outside the scratch directories) for a closer look in Chrome DevTools or speedscope.
  const kept = join(tmpdir(), `${runId}-etl.cpuprofile`)
  await rename(join(dir, file), kept)
  say(`  profile kept in ${kept}`)
  return summariseProfile(kept)
}

let exitCode = 0
try {
  broker = await startBroker(say)
  say(`Broker: ${broker.brokers}${broker.own ? ' (started for this run)' : ' (from KAFKA_BROKERS)'}`)
  const load: Record<string, LoadResult> = {}
  const inputTopic = `${runId}-input`
  const stateTopic = `${runId}-state`
  if (selected.some(needsClickstream) || values.profile) {
    say(`Loading ${events} clickstream events into ${inputTopic}…`)
    load.clickstream = await loadClickstream(broker.brokers, inputTopic, events)
    const l = load.clickstream
    say(
      `  loaded in ${l.seconds.toFixed(1)} s (${Math.round(l.records / l.seconds)} events/s, ${(l.bytes / 1e6).toFixed(0)} MB, ${l.bad} malformed)`,
    )
  }
  let avro: WorkloadConfig['avro']
  if (selected.includes('etl-avro')) {
    say('Starting a schema registry (Apicurio Registry) for etl-avro…')
    schemaRegistry = await startRegistry()
    const topic = `${runId}-input-avro`
    const { encode } = await registryEncoder('avro', { url: schemaRegistry.url }, `${topic}-value`)
    say(`Loading the same ${events} events in Avro into ${topic}…`)
    const l = await loadClickstream(broker.brokers, topic, events, encode)
    load.clickstreamAvro = l
    say(
      `  loaded in ${l.seconds.toFixed(1)} s (${Math.round(l.records / l.seconds)} events/s, ${(l.bytes / 1e6).toFixed(0)} MB, ${l.bad} malformed)`,
    )
    avro = { topic, records: l.records, bytes: l.bytes, registryUrl: schemaRegistry.url }
  }
  if (selected.includes('state')) {
    say(`Loading ${stateKeys} single-key records into ${stateTopic}…`)
    load.state = await loadStateTopic(broker.brokers, stateTopic, stateKeys)
    say(`  loaded in ${load.state.seconds.toFixed(1)} s`)
  }

  const base: Omit<WorkloadConfig, 'workload' | 'checkpointDir'> = {
    brokers: broker.brokers,
    ...(broker.pid !== undefined ? { brokerPid: broker.pid } : {}),
    inputTopic,
    inputRecords: load.clickstream?.records ?? 0,
    inputBytes: load.clickstream?.bytes ?? 0,
    ...(load.state ? { stateTopic, stateRecords: load.state.records, stateBytes: load.state.bytes } : {}),
    ...(avro ? { avro } : {}),
    runId,
    maxBatchRecords,
    ...(lingerMs !== undefined ? { lingerMs } : {}),
    validator,
    rate,
    durationMs,
    warmupMs,
  }
  const records: WorkloadRecord[] = []
  let ceiling: number | undefined
  for (const workload of selected) {
    if (stopping) break
    const runs =
      workload === 'latency'
        ? rates.flatMap((r, i) =>
            (i === 0
              ? (['none', 'continuous', 'processingTime:1s'] as const)
              : (['none', 'continuous'] as const)
            ).map((trigger) => ({ trigger, rate: r })),
          )
        : [{ trigger: undefined, rate }]
    for (const { trigger, rate: runRate } of runs) {
      const config: WorkloadConfig = {
        ...base,
        workload,
        checkpointDir: await freshDir('sluice-bench-ckpt-'),
        ...(trigger ? { trigger } : {}),
        rate: runRate,
        ...(workload === 'sinks' ? { inputRecords: sinkRows } : {}),
      }
      // The first rate keeps the plain names (the targets read them); others say their rate.
      const name = trigger
        ? `${latencyName(trigger)}${runRate === rate ? '' : `@${runRate / 1000}k`}`
        : workload
      const nodeArgs = workload === 'state' ? ['--expose-gc'] : []
      const record = await runOne(name, workloadScript(workload), config, ceiling, nodeArgs)
      if (workload === 'ceiling' && record.status === 'ok') ceiling = record.eventsPerSecond
      records.push(record)
    }
  }

  let profile: ProfileSummary | undefined
  if (values.profile && !stopping) {
    profile = await profileEtl({
      ...base,
      workload: 'etl',
      checkpointDir: '',
    })
  }

  if (stopping) throw new Error('interrupted')
  const targets = checkTargets(records, rate)
  const report: BenchReport = {
    version: 1,
    date: new Date().toISOString(),
    commit,
    dirty,
    machine,
    node: process.version,
    broker: broker.own
      ? 'local single-node KRaft broker started by the benchmark (1 GB heap)'
      : broker.brokers,
    events,
    options: {
      workloads: selected,
      rate,
      rates,
      sinkRows,
      durationMs,
      warmupMs,
      stateKeys,
      maxBatchRecords,
      lingerMs: lingerMs ?? 'engine default',
      validator,
      timeoutMs,
      nodeArgs: [...SLUICE_NODE_FLAGS, ...(values['node-arg'] ?? [])],
      partitions: 4,
      malformedFraction: 0.005,
    },
    load,
    workloads: records,
    targets,
    ...(profile ? { profile } : {}),
    totalSeconds: Math.round((performance.now() - started) / 100) / 10,
  }

  console.log('')
  console.log(table(records))
  console.log('')
  console.log('Where the batches spent their time:')
  console.log(phaseTable(records))
  console.log('')
  console.log('Targets (one process, this machine):')
  console.log(targetsText(targets))
  if (profile) {
    console.log('')
    console.log(profileText(profile))
  }
  const out = values.out ?? join(repoRoot, 'bench', 'results', `${report.date.slice(0, 10)}-${commit}.json`)
  if (!existsSync(join(out, '..'))) await mkdir(join(out, '..'), { recursive: true })
  await writeFile(out, `${JSON.stringify(report, null, 2)}\n`)
  console.log('')
  console.log(`Results written to ${out}`)
  if (records.some((r) => r.status !== 'ok')) exitCode = 1
} catch (error) {
  if (!stopping)
    say(`The benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
  exitCode = stopping ? 130 : 1
} finally {
  await cleanUp()
}
process.exit(exitCode)
