import type { Plan } from '../plan/nodes.ts'
import type { PlanFingerprint } from './fingerprint.ts'

/**
 * Checkpoints of format 1 (metadata.json `version: 1`) were written before stable step ids: a step the user
 * did not name had the id `<kind>-<position in the plan>` (`source-0`, `window-4`), and its state rows in
 * state.db are filed under it. Returns, for each step of `plan` whose id changed, its id then → its id now.
 * A named step kept its name, so it is not in the map.
 */
export function positionalIds(plan: Plan): ReadonlyMap<string, string> {
  const renames = new Map<string, string>()
  plan.nodes.forEach((node, position) => {
    const positional = `${node.kind}-${position}`
    if (!node.named && positional !== node.id) renames.set(positional, node.id)
  })
  return renames
}

/**
 * The fingerprint with its operator ids replaced through `ids` (ids not in it unchanged): the current plan's
 * fingerprint in a format-1 checkpoint's ids, so the two compare exactly as they did when it was written.
 */
export function withIds(fingerprint: PlanFingerprint, ids: ReadonlyMap<string, string>): PlanFingerprint {
  return {
    ...fingerprint,
    operators: fingerprint.operators.map((op) => ({ ...op, id: ids.get(op.id) ?? op.id })),
  }
}

/** Inverts a one-to-one map (`positionalIds` gives one: positions and current ids are both unique). */
export function inverted(map: ReadonlyMap<string, string>): ReadonlyMap<string, string> {
  return new Map([...map].map(([from, to]) => [to, from]))
}
