import { Command } from 'commander'

/** `sluice lint FILE`: the checks of loading and planning a pipeline file, without running it (lint-action.ts). */
export function lintCommand(): Command {
  return new Command('lint')
    .description(
      'check a pipeline file (YAML or TypeScript) without running it: file:line:col per problem, exit 2',
    )
    .argument('<file>', 'a pipeline file (.yaml, .yml) or a module exporting pipelines (.ts, .js)')
    .action(async (file: string) => {
      const { lintFile } = await import('./lint-action.ts')
      await lintFile(file, process.stdout)
    })
}
