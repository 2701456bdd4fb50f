import { type Monitor, startMonitor } from '../ui/monitor.ts'
import type { DashboardFlags } from './dashboard-flags.ts'

/** Starts the dashboard the flags describe; returns it with the line that says where it is. */
export async function startDashboard(flags: DashboardFlags): Promise<{ monitor: Monitor; line: string }> {
  const uiToken = flags.uiToken ?? (process.env.SLUICE_UI_TOKEN || undefined)
  const monitor = await startMonitor({
    host: flags.uiHost,
    allowedHosts: flags.uiAllowHost,
    ...(uiToken === undefined ? {} : { token: uiToken }),
    ...(flags.uiPort === undefined ? {} : { port: flags.uiPort }),
  })
  return { monitor, line: dashboardLine(monitor, uiToken !== undefined) }
}

/** Where the dashboard is, and how to get in when it needs a token (a given one is not echoed). */
function dashboardLine(monitor: Monitor, tokenGiven: boolean): string {
  const where = `Dashboard: ${monitor.url} (Prometheus metrics at ${monitor.url}metrics)`
  if (monitor.token === undefined) return where
  const how = tokenGiven
    ? 'every request needs the token given (--ui-token or $SLUICE_UI_TOKEN)'
    : `every request needs this token: open ${monitor.url}?token=${monitor.token} or send Authorization: Bearer ${monitor.token}`
  return `${where}\n  reachable from other machines: ${how}`
}
