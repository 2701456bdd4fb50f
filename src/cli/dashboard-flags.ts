import type { Command } from 'commander'
import { port } from './options.ts'

/** The dashboard's flags, shared by `sluice start` (on by default) and `sluice run --ui`. */
export interface DashboardFlags {
  uiPort?: number
  uiHost: string
  uiAllowHost: string[]
  uiToken?: string
}

export function withDashboardOptions(command: Command): Command {
  return command
    .option(
      '--ui-port <port>',
      'port of the dashboard and /metrics (default: 4040 or the next free one)',
      port,
    )
    .option(
      '--ui-host <host>',
      'address the dashboard listens on; other than loopback, requests need a token',
      '127.0.0.1',
    )
    .option(
      '--ui-allow-host <name>',
      'a host name the dashboard answers to besides its address (a proxy, a DNS name); repeatable',
      (name: string, names: string[]) => [...names, name],
      [] as string[],
    )
    .option(
      '--ui-token <token>',
      'the token dashboard requests need (default $SLUICE_UI_TOKEN, else generated)',
    )
}
