/**
 * The second ceiling: Apache Kafka's own consumer perf tool (`org.apache.kafka.tools.ConsumerPerformance`,
 * the Java client) reading the same input topic, no processing. Its jars come from kafka/tools-pom.xml,
 * resolved by Maven on first use and cached like the broker's classpath. Peak RSS and CPU are the JVM's,
 * sampled from /proc every 200 ms.
 */
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, readFile, rename } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { findJava, findMaven } from '../../src/local-kafka/tools.ts'
import { runWorkload } from '../lib/child.ts'

const TOOLS_POM = fileURLToPath(new URL('../../kafka/tools-pom.xml', import.meta.url))
const CLOCK_TICKS = 100 // USER_HZ on Linux

async function toolsClasspath(): Promise<string> {
  const pom = await readFile(TOOLS_POM)
  const key = createHash('sha256').update(pom).digest('hex').slice(0, 16)
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache')
  const cacheFile = join(base, 'sluice', 'kafka', `tools-classpath-${key}.txt`)
  if (existsSync(cacheFile)) {
    const cached = (await readFile(cacheFile, 'utf8')).trim()
    if (cached.split(':').every((jar) => existsSync(jar))) return cached
  }
  await mkdir(dirname(cacheFile), { recursive: true })
  const tmp = `${cacheFile}.${process.pid}.tmp`
  await promisify(execFile)(await findMaven(), [
    '-B',
    '-q',
    '-f',
    TOOLS_POM,
    'dependency:build-classpath',
    `-Dmdep.outputFile=${tmp}`,
    '-Dmdep.includeScope=runtime',
  ])
  await rename(tmp, cacheFile)
  return (await readFile(cacheFile, 'utf8')).trim()
}

/** CPU seconds (user, system) and peak RSS (MiB) of a running process, from /proc. */
function sample(pid: number): { user: number; system: number; hwmMB: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status)
    return {
      user: Number(fields[11]) / CLOCK_TICKS,
      system: Number(fields[12]) / CLOCK_TICKS,
      hwmMB: hwm ? Math.round(Number(hwm[1]) / 102.4) / 10 : 0,
    }
  } catch {
    return undefined
  }
}

runWorkload(async (config) => {
  const classpath = await toolsClasspath()
  const { path: java } = await findJava()
  const args = [
    '-Xmx1g',
    '-cp',
    classpath,
    'org.apache.kafka.tools.ConsumerPerformance',
    '--bootstrap-server',
    config.brokers,
    '--topic',
    config.inputTopic,
    '--messages',
    String(config.inputRecords),
    '--group',
    `${config.runId}-ceiling-kafka`,
    '--timeout',
    '30000',
  ]
  const started = performance.now()
  const child = spawn(java, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  let last = child.pid ? sample(child.pid) : undefined
  const timer = setInterval(() => {
    if (child.pid) last = sample(child.pid) ?? last
  }, 200)
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  clearInterval(timer)
  const wall = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`ConsumerPerformance exited with ${code}: ${err.slice(-2000)}`)
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms,
  // fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const line = out
    .trim()
    .split('\n')
    .find((l) => /^\d{4}-\d\d-\d\d/.test(l))
  if (!line) throw new Error(`ConsumerPerformance printed no result: ${out.slice(-1000)}`)
  const f = line.split(',').map((s) => s.trim())
  const mbConsumed = Number(f[2])
  const messages = Number(f[4])
  const rebalanceMs = Number(f[6])
  const fetchMs = Number(f[7])
  const seconds = (rebalanceMs + fetchMs) / 1000
  return {
    workload: 'ceiling-kafka',
    events: messages,
    bytes: Math.round(mbConsumed * 1024 * 1024),
    outputRows: 0,
    deadLettered: 0,
    seconds,
    startupSeconds: rebalanceMs / 1000,
    batches: 0,
    cpuUserSeconds: last?.user ?? 0,
    cpuSystemSeconds: last?.system ?? 0,
    processCpuSeconds: (last?.user ?? 0) + (last?.system ?? 0),
    maxRssMB: last?.hwmMB ?? 0,
    heapUsedMBAtEnd: 0,
    notes: [
      `ConsumerPerformance: ${messages} records in ${(fetchMs / 1000).toFixed(2)} s of fetching = ${f[9]} records/s (${f[8]} MB/s); group join ${rebalanceMs} ms; JVM wall time ${wall.toFixed(1)} s with start-up`,
    ],
  }
})
