import { Command } from 'commander'

/** `sluice test FILE.yaml …`: runs YAML unit tests of pipeline files (test-action.ts, loaded when it runs). */
export function testCommand(): Command {
  return new Command('test')
    .description(
      'run YAML unit tests of a pipeline file: input records, expected rows and dead letters, no broker (exit 1 on a failure)',
    )
    .argument('<files...>', 'test files (see `sluice init --yaml` for one)')
    .action(async (files: string[]) => {
      const { testFiles } = await import('./test-action.ts')
      await testFiles(files, process.stdout)
    })
}
