import { Command } from 'commander'
import { UsageError } from '../errors.ts'
import { parseFilter, type RecordFilter } from '../listener/filter.ts'
import { isoTime, positiveInt } from './options.ts'
import { interruptSignal } from './signals.ts'

interface ListenFlags {
  topic: string
  brokers?: string
  group?: string
  fromBeginning?: boolean
  fromLatest?: boolean
  fromTime?: number
  max?: number
  filter: RecordFilter[]
  json?: boolean
  stats?: boolean
  headers?: boolean
}

export function listenCommand(): Command {
  return new Command('listen')
    .description(
      'print every record of a topic (own copy without --group; shared work with the same --group)',
    )
    .option('--topic <name>', 'topic to listen to', 'events')
    .option('--brokers <list>', 'bootstrap brokers (default $KAFKA_BROKERS or 127.0.0.1:9092)')
    .option('--group <id>', 'consumer group to share the partitions with (and commit progress to)')
    .option('--from-beginning', 'start at the oldest record (where the group has no committed offset)')
    .option('--from-latest', 'start at new records only (default)')
    .option('--from-time <iso>', 'start at the first record at or after this time', isoTime)
    .option('--max <n>', 'exit after printing n records', positiveInt)
    .option(
      '--filter <field=value>',
      'only records whose JSON field matches (repeatable; != negates)',
      collectFilter,
      [],
    )
    .option('--json', 'one JSON object per line instead of the pretty form')
    .option('--stats', 'print per-second counts per event type instead of records')
    .option(
      '--headers',
      'show every header of each record (--json: a "headers" object; values that are not text as "base64:…"); without it a dead letter\'s reason, step and source still show',
    )
    .action(async (flags: ListenFlags) => {
      const starts = [flags.fromBeginning, flags.fromLatest, flags.fromTime !== undefined].filter(
        Boolean,
      ).length
      if (starts > 1) throw new UsageError('Choose one of --from-beginning, --from-latest and --from-time.')
      const from =
        flags.fromTime !== undefined ? { time: flags.fromTime } : flags.fromBeginning ? 'beginning' : 'latest'
      // Loaded here, not at the top: `sluice --help` should not load the Kafka client.
      const [{ listen }, { renderJsonLine, renderPretty }, { TypeCounter }] = await Promise.all([
        import('../listener/listen.ts'),
        import('../listener/render.ts'),
        import('../listener/stats.ts'),
      ])
      const { signal, dispose } = interruptSignal()
      const color = process.stdout.isTTY === true
      const render = { headers: flags.headers === true }
      const counter = new TypeCounter()
      const interval = flags.stats
        ? setInterval(() => process.stdout.write(`${counter.flushLine(new Date(), 1)}\n`), 1000)
        : undefined
      try {
        const result = await listen(
          {
            topic: flags.topic,
            ...(flags.brokers ? { brokers: flags.brokers } : {}),
            ...(flags.group ? { group: flags.group } : {}),
            from,
            ...(flags.max ? { max: flags.max } : {}),
            filters: flags.filter,
            signal,
            onReady: () =>
              process.stderr.write(
                `Listening to ${flags.topic}${flags.group ? ` in group ${flags.group}` : ''}…\n`,
              ),
          },
          (record, payload) => {
            if (flags.stats) {
              const type =
                payload.kind === 'json' ? (payload.value as { event_type?: unknown })?.event_type : undefined
              counter.add(
                typeof type === 'string' ? type : payload.kind === 'json' ? '(no event_type)' : '(not json)',
              )
            } else if (flags.json) {
              process.stdout.write(`${renderJsonLine(record, payload, render)}\n`)
            } else {
              process.stdout.write(renderPretty(record, payload, color, render))
            }
          },
        )
        process.stderr.write(
          `Received ${result.delivered} record(s)${result.read !== result.delivered ? ` (${result.read} read)` : ''}.\n`,
        )
      } finally {
        if (interval) clearInterval(interval)
        dispose()
      }
    })
}

function collectFilter(value: string, previous: RecordFilter[]): RecordFilter[] {
  return [...previous, parseFilter(value)]
}
