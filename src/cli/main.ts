import { Command, CommanderError } from 'commander'
import { overrideSecurity } from '../connectors/kafka/connection.ts'
import { describeError, SluiceError } from '../errors.ts'
import { initCommand } from './init-command.ts'
import { kafkaCommand } from './kafka-command.ts'
import { withKafkaSecurity } from './kafka-security-flags.ts'
import { lakeCommand } from './lake-command.ts'
import { lintCommand } from './lint-command.ts'
import { listenCommand } from './listen-command.ts'
import { produceCommand } from './produce-command.ts'
import { queryCommand } from './query-command.ts'
import { resetCommand } from './reset-command.ts'
import { runCommand } from './run-command.ts'
import { schemaCommand } from './schema-command.ts'
import { startCommand } from './start-command.ts'
import { testCommand } from './test-command.ts'
import { sluiceVersion } from './version.ts'

/**
 * Builds the `sluice` program. Each subcommand's file only declares its flags and imports its implementation
 * (Kafka clients, DuckDB, the runtime) when it runs, so `--help` and `--version` answer at once.
 */
export function program(): Command {
  return new Command('sluice')
    .description('Kafka-native streaming ETL: produce, listen, run pipelines, manage a local Kafka.')
    .version(sluiceVersion(), '-V, --version', 'print the version of Sluice')
    .option('--verbose', 'print stack traces of errors')
    .exitOverride()
    .showSuggestionAfterError()
    .addCommand(kafkaCommand())
    .addCommand(withKafkaSecurity(listenCommand()))
    .addCommand(withKafkaSecurity(startCommand()))
    .addCommand(withKafkaSecurity(produceCommand()))
    .addCommand(withKafkaSecurity(runCommand()))
    .addCommand(queryCommand())
    .addCommand(lakeCommand())
    .addCommand(schemaCommand())
    .addCommand(withKafkaSecurity(resetCommand()))
    .addCommand(initCommand())
    .addCommand(lintCommand())
    .addCommand(testCommand())
}

function overrideExits(command: Command): void {
  command.exitOverride()
  for (const sub of command.commands) overrideExits(sub)
}

/** Runs the CLI and returns the exit code. Library code throws; only this function turns errors into codes. */
export async function main(argv: readonly string[]): Promise<number> {
  const cli = program()
  overrideExits(cli)
  try {
    await cli.parseAsync([...argv], { from: 'user' })
    return 0
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed the message (unknown flag, bad value, help).
      return error.exitCode === 0 ? 0 : 2
    }
    const verbose = argv.includes('--verbose')
    process.stderr.write(`sluice: ${describeError(error)}\n`)
    if (verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`)
    return error instanceof SluiceError ? error.exitCode : 1
  } finally {
    // The security flags of this command line only (main runs more than once in tests).
    overrideSecurity(undefined)
  }
}
