import { Command } from 'commander'
import { TOPICS } from '../app/demo-pipelines.ts'
import { runMainJob } from '../app/main-job.ts'
import { createLogger } from '../log.ts'
import type { BatchProgress } from '../runtime/progress.ts'
import { parseDuration, port, positiveInt } from './options.ts'
import { interruptSignal } from './signals.ts'

interface StartFlags {
  dataDir: string
  brokers?: string
  port: number
  rate: number
  duration?: number
}

export function startCommand(): Command {
  return new Command('start')
    .description('run the clickstream ETL: local Kafka, the producer and the demo pipelines (npm start)')
    .option('--data-dir <dir>', 'checkpoints and the local broker', 'data')
    .option('--brokers <list>', 'use these brokers instead of a local one (default $KAFKA_BROKERS)')
    .option('--port <port>', 'port of the local broker', port, 9092)
    .option('--rate <n>', 'clickstream events per second', positiveInt, 200)
    .option('--duration <time>', 'stop after this long (e.g. 60s) and print a summary', parseDuration)
    .action(async (flags: StartFlags) => {
      const logger = createLogger({ name: 'sluice' })
      const { signal, dispose } = interruptSignal()
      const latest = new Map<string, BatchProgress>()
      const status = setInterval(() => {
        for (const p of latest.values()) process.stderr.write(`${statusLine(p)}\n`)
      }, 5000)
      try {
        const brokers = flags.brokers ?? process.env.KAFKA_BROKERS
        const summary = await runMainJob({
          dataDir: flags.dataDir,
          ...(brokers ? { brokers } : {}),
          port: flags.port,
          rate: flags.rate,
          ...(flags.duration ? { durationMs: flags.duration } : {}),
          signal,
          logger,
          onProgress: (p) => latest.set(p.pipelineId, p),
          onReady: ({ brokers: address }) => {
            process.stderr.write(
              [
                `Kafka at ${address}. Producing ${flags.rate} events/s to "${TOPICS.events}"; pipelines: clean-events, page-metrics, sessions.`,
                `  listen:  npx sluice listen --brokers ${address} --topic ${TOPICS.pageMetrics} --from-beginning`,
                `           npx sluice listen --brokers ${address} --topic ${TOPICS.events} --stats`,
                `  dead letters: npx sluice listen --brokers ${address} --topic ${TOPICS.deadLetters} --from-beginning`,
                flags.duration
                  ? `  running for ${Math.round(flags.duration / 1000)} s`
                  : '  Ctrl-C stops everything; a second start resumes from the checkpoints.',
                '',
              ].join('\n'),
            )
          },
        })
        const p = summary.produced
        process.stdout.write(
          [
            `Produced ${p.delivered} events (${p.bad} malformed, ${p.late} late, ${p.dupes} duplicates).`,
            ...Object.entries(summary.pipelines).map(
              ([id, s]) =>
                `${id.padEnd(13)} ${s.inputRows} processed, ${s.outputRows} written, ${s.deadLetteredRows} dead-lettered, ${s.lateRows} late, ${s.batches} batches`,
            ),
            '',
          ].join('\n'),
        )
      } finally {
        clearInterval(status)
        dispose()
      }
    })
}

function statusLine(p: BatchProgress): string {
  const lag = p.sourceLag ? Object.values(p.sourceLag).reduce((a, b) => a + b, 0) : undefined
  return `${p.pipelineId.padEnd(13)} batch ${p.batchId}  ${p.inputRowsPerSecond} in/s  ${p.outputRows} out  watermark ${p.watermark?.slice(11, 19) ?? '-'}  state ${p.stateRows}${lag === undefined ? '' : `  lag ${lag}`}`
}
