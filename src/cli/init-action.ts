import { constants } from 'node:fs'
import { access, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { UsageError } from '../errors.ts'
import { starterFiles } from './init-templates.ts'

/**
 * Writes the starter files into `dir` (created if missing). If any of them exists, nothing is written: the
 * error names each, so a second `sluice init` cannot overwrite work.
 */
export async function initProject(
  dir: string,
  options: { yaml: boolean; out: { write(text: string): unknown } },
): Promise<void> {
  const files = starterFiles(options.yaml)
  const paths = Object.keys(files).map((name) => join(dir, name))
  const existing = (await Promise.all(paths.map(async (p) => ((await exists(p)) ? p : undefined)))).filter(
    (p) => p !== undefined,
  )
  if (existing.length > 0)
    throw new UsageError(
      `${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}: not overwritten; give another directory`,
    )
  await mkdir(dir, { recursive: true })
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text, { flag: 'wx' })
  const [pipeline, test] = paths as [string, string]
  options.out.write(
    `wrote ${pipeline} and ${test}\n` +
      (options.yaml
        ? `  npx sluice lint ${pipeline}\n  npx sluice test ${test}\n  npx sluice run ${pipeline} --available-now\n`
        : `  node --test ${test}\n  npx sluice lint ${pipeline}\n  npx sluice run ${pipeline} --available-now\n`),
  )
}

async function exists(path: string): Promise<boolean> {
  return access(path, constants.F_OK).then(
    () => true,
    () => false,
  )
}
