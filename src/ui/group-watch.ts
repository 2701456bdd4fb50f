import type { GroupView, GroupViewReader } from '../contracts/group-view.ts'
import { describeError } from '../errors.ts'

/** How often a group view is refreshed by default. */
export const GROUP_REFRESH_MS = 5_000

/**
 * Refreshes a group view every `intervalMs` on its own timer, beside the pipeline: one read at a time (a slow
 * broker skips refreshes rather than piling them up), and a failed read only marks the last view with its
 * reason, so nothing the view does reaches the pipeline.
 */
export function watchGroup(
  reader: GroupViewReader,
  onView: (view: GroupView) => void,
  intervalMs = GROUP_REFRESH_MS,
): { close(): Promise<void> } {
  let last: GroupView | undefined
  let reading: Promise<void> | undefined
  let closed = false
  const refresh = () => {
    if (reading || closed) return
    reading = reader
      .read()
      .then(
        (view) => view,
        (error: unknown) => failedView(reader.groupId, last, error),
      )
      .then((view) => {
        if (closed) return
        last = view
        onView(view)
      })
      // A view the page or the metrics cannot take is dropped, never thrown at the process.
      .catch(() => {})
      .finally(() => {
        reading = undefined
      })
  }
  refresh()
  const timer = setInterval(refresh, intervalMs)
  timer.unref()
  return {
    async close() {
      closed = true
      clearInterval(timer)
      await reading
      await reader.close().catch(() => {})
    },
  }
}

/** A view that could not be read: the previous one with the reason, or an empty one. */
function failedView(groupId: string, previous: GroupView | undefined, error: unknown): GroupView {
  const reason = describeError(error).slice(0, 500)
  return previous
    ? { ...previous, error: reason }
    : { groupId, state: 'Unknown', at: new Date().toISOString(), members: [], partitions: [], error: reason }
}
