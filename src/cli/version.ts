import { readFileSync } from 'node:fs'

/** Sluice's version, from its package.json (read, not imported: the CLI runs the sources as they are). */
export function sluiceVersion(): string {
  const json: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  const version = (json as { version?: unknown }).version
  return typeof version === 'string' ? version : 'unknown'
}
