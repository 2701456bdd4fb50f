import { Command } from 'commander'

interface InitFlags {
  yaml?: boolean
}

/** `sluice init [DIR]`: a starter pipeline and its test (init-action.ts, loaded when it runs). */
export function initCommand(): Command {
  return new Command('init')
    .description(
      'write a starter pipeline and its test (TypeScript, or YAML with --yaml); never overwrites a file',
    )
    .argument('[dir]', 'where to write them', '.')
    .option('--yaml', 'a YAML pipeline and a `sluice test` file instead of TypeScript and a node:test test')
    .action(async (dir: string, flags: InitFlags) => {
      const { initProject } = await import('./init-action.ts')
      await initProject(dir, { yaml: flags.yaml === true, out: process.stdout })
    })
}
