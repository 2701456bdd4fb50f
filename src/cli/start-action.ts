import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { TABLES } from '../app/demo-pipelines.ts'
import { MainJobFailedError, type MainJobSummary, runMainJob } from '../app/main-job.ts'
import { describeWarehouse } from '../app/warehouse.ts'
import { terminateOwnedNodesNow } from '../local-kafka/owner.ts'
import { createLogger } from '../log.ts'
import { RegistryClient } from '../registry/client.ts'
import type { BatchProgress } from '../runtime/progress.ts'
import type { Monitor } from '../ui/monitor.ts'
import { startDashboard } from './dashboard-start.ts'
import { registryFormat } from './registry-flags.ts'
import { formatLag } from './run-progress.ts'
import { interruptSignal } from './signals.ts'
import type { StartFlags } from './start-command.ts'
import { checkStartSecurity } from './start-security.ts'
import { say, tolerateClosedReaders, writeResult } from './terminal-output.ts'

/** Where each run's summary is also written, as the reader of stdout may be gone when it is printed. */
const SUMMARY_FILE = 'last-summary.txt'

/** `sluice start` (npm start): the main job with its dashboard, a status line per pipeline every 5 s, a summary. */
export async function startMainJob(flags: StartFlags): Promise<void> {
  tolerateClosedReaders()
  const logger = createLogger({ name: 'sluice' })
  const summaryFile = join(flags.dataDir, SUMMARY_FILE)
  const brokers = flags.brokers ?? process.env.KAFKA_BROKERS
  checkStartSecurity(flags, brokers)
  const format = registryFormat(flags)
  // First, so that a busy --ui-port fails before a broker is started.
  const dashboard = flags.ui ? await startDashboard(flags) : undefined
  const monitor: Monitor | undefined = dashboard?.monitor
  if (dashboard) say(dashboard.line)
  const { signal, dispose } = interruptSignal(() => {
    // Exiting at once: the broker this run started must not outlive it (SIGTERM: its controlled shutdown).
    const stopping = brokers ? 0 : terminateOwnedNodesNow(join(flags.dataDir, 'kafka'))
    say(
      `Second Ctrl-C: exiting without the pipelines' last commit (they resume from their checkpoints)${stopping ? '; the local broker this run started is shutting down' : ''}.`,
    )
  })
  signal.addEventListener(
    'abort',
    () =>
      say(
        `Stopping: the producer stops, the pipelines commit what they read; then the summary, also saved to ${summaryFile}. Ctrl-C again to exit at once.`,
      ),
    { once: true },
  )
  const latest = new Map<string, BatchProgress>()
  const status = setInterval(() => {
    for (const p of latest.values()) say(statusLine(p))
  }, 5000)
  try {
    const summary = await runMainJob({
      dataDir: flags.dataDir,
      ...(brokers ? { brokers } : {}),
      ...(flags.secure ? { secure: true } : {}),
      ...(format ? { format } : {}),
      ...(process.env.DATABASE_URL ? { databaseUrl: process.env.DATABASE_URL } : {}),
      ...(flags.namespace ? { namespace: flags.namespace } : {}),
      ...(flags.lakeFormat ? { lakeFormat: flags.lakeFormat } : {}),
      ...(monitor ? { monitor } : {}),
      port: flags.port,
      rate: flags.rate,
      ...(flags.history === undefined ? {} : { historyMs: flags.history }),
      ...(flags.duration ? { durationMs: flags.duration } : {}),
      ...(flags.retryTimeout === undefined ? {} : { retryTimeoutMs: flags.retryTimeout }),
      signal,
      logger,
      onNotice: say,
      onProgress: (p) => {
        latest.set(p.pipelineId, p)
        monitor?.observe(p)
      },
      onReady: ({ brokers, outputs, kafkaConfig, eventSchema }) => {
        // The secured local broker: the commands connect with its client properties file (no secret printed).
        const address = kafkaConfig ? `${brokers} --kafka-config ${kafkaConfig}` : brokers
        say(
          [
            `Kafka at ${brokers}${kafkaConfig ? ' (SASL_SSL, SCRAM-SHA-512 as its super user)' : ''}. Producing ${flags.rate} ${format ? `${format.type} ` : ''}events/s to "${outputs.topics.events}"; pipelines: clean-events, page-metrics, sessions, revenue-alerts.`,
            ...(format && eventSchema
              ? [
                  `  schema:    ${eventSchema.subject}, id ${eventSchema.id}, in the registry at ${new RegistryClient(format.registry).shownUrl}`,
                ]
              : []),
            `  lake:      ${outputs.lakePath} (${outputs.lake.format === 'iceberg' ? `Iceberg table ${outputs.lake.table} in the SQL catalog ${outputs.lake.catalog}` : 'Parquet'}, partitioned by event_date and event_type)`,
            `  warehouse: ${describeWarehouse(outputs.warehouse)} (tables ${Object.values(TABLES).join(', ')})`,
            `  listen:    npx sluice listen --brokers ${address} --topic ${outputs.topics.events} --stats`,
            `             npx sluice listen --brokers ${address} --topic ${outputs.topics.alerts} --from-beginning`,
            `  dead letters: npx sluice listen --brokers ${address} --topic ${outputs.topics.deadLetters} --from-beginning`,
            `  query:     npx sluice query${flags.dataDir === 'data' ? '' : ` --data-dir ${flags.dataDir}`} "SELECT * FROM page_metrics ORDER BY views DESC LIMIT 10"${outputs.warehouse.kind === 'duckdb' ? '' : ''}`,
            flags.duration
              ? `  running for ${Math.round(flags.duration / 1000)} s`
              : '  Ctrl-C stops everything; a second start resumes from the checkpoints.',
          ].join('\n'),
        )
      },
    }).catch(async (error: unknown) => {
      if (!(error instanceof MainJobFailedError)) throw error
      // A summary even when the job failed; then the cause, as the exit status and last line.
      await report(error.summary, summaryFile)
      throw error.cause
    })
    await report(summary, summaryFile)
  } finally {
    clearInterval(status)
    dispose()
    await monitor?.close()
  }
}

/** The summary on stdout (on stderr when stdout's reader has gone, e.g. tee after Ctrl-C) and in the data dir. */
async function report(summary: MainJobSummary, file: string): Promise<void> {
  const text = summaryText(summary)
  const saved = await writeFile(file, text).then(
    () => true,
    () => false,
  )
  const where = await writeResult(text)
  if (saved && where !== 'stdout') say(`(The summary is also in ${file}.)`)
}

function statusLine(p: BatchProgress): string {
  const lag = p.sourceLag ? Object.values(p.sourceLag).reduce((a, b) => a + b, 0) : undefined
  const lagText = lag === undefined ? '' : `  lag ${p.sourceUnit === 'bytes' ? formatLag(lag, 'bytes') : lag}`
  return `${p.pipelineId.padEnd(13)} batch ${p.batchId}  ${p.inputRowsPerSecond} in/s  ${p.outputRows} out  watermark ${p.watermark?.slice(11, 19) ?? '-'}  state ${p.stateRows}${lagText}`
}

function summaryText(summary: MainJobSummary): string {
  const p = summary.produced
  return [
    `Produced ${p.delivered} events (${p.bad} malformed, ${p.late} late, ${p.dupes} duplicates).`,
    ...summary.pipelineIds.map((id) => {
      const s = summary.pipelines[id]
      return s
        ? `${id.padEnd(14)} ${s.inputRows} processed, ${s.outputRows} written, ${s.deadLetteredRows} dead-lettered, ${s.lateRows} late, ${s.duplicateRows} duplicates, ${s.batches} batches`
        : `${id.padEnd(14)} failed (below)`
    }),
    `Lake ${summary.outputs.lakePath}: ${summary.lakeRows ?? 'not readable'} events.`,
    `Warehouse ${describeWarehouse(summary.outputs.warehouse)}: ${
      Object.entries(summary.tables)
        .map(([t, n]) => `${t} ${n} rows`)
        .join(', ') || 'not readable'
    }.`,
    '',
  ].join('\n')
}
