import type { PlanNode, PlanNodeKind } from './nodes.ts'

/**
 * The id of a step the user did not name: its kind, then its ordinal among the steps of that kind when it is
 * not the first (`window`, `window-2`, …; `map`, `map-2`, `map-3`).
 *
 * An id names the step's state in the checkpoint (and, with scale-out, its changelog topic), so it must not
 * change when the plan changes elsewhere. How others do it:
 * - Flink hashes each operator's position in the job graph with its inputs and chained outputs
 *   (StreamGraphHasherV2) unless `uid()` is set; any upstream change moves every hash after it, hence its
 *   advice to set a uid on every stateful operator.
 * - Kafka Streams counts every processor of the topology (`KSTREAM-AGGREGATE-0000000003`): inserting a `mapValues`
 *   upstream renames the stores and changelog topics after it; KIP-307 added `Named`/`Materialized.as` for that.
 * - Spark numbers the stateful operators of the physical plan in order (`operatorId` 0, 1, …): a stateless
 *   change keeps them, adding or removing a stateful one renumbers those after it.
 * Counting per kind keeps an id across every change that does not add or remove a step of the same kind
 * before it: a map or filter inserted before a window, a dedupe added after it, a sink swapped. The first of
 * a kind gets the bare kind because most plans have one of each, so the dashboard, errors and topic names read
 * `window`, `dedupe`, `keyBy`; the count starts at 2 so that `window-2` is the second window. A step named by
 * the user keeps its name whatever the plan around it becomes (Flink's uid, Kafka Streams' `Named`).
 * Named steps still count, so naming one step never renames another.
 */
export function derivedStepId(kind: PlanNodeKind, earlier: readonly PlanNode[]): string {
  const ordinal = earlier.filter((node) => node.kind === kind).length + 1
  return ordinal === 1 ? kind : `${kind}-${ordinal}`
}

/** What a step name may be: it goes into state keys, metric labels and topic names. */
const STEP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** Kafka refuses topic names longer than this. */
const MAX_TOPIC_NAME = 249

/**
 * Why `name` cannot name a step of pipeline `pipelineId`, or undefined when it can. A step's state will go to
 * the topic `<pipeline>-<step id>-changelog`, so a name uses the characters Kafka takes in a topic name and
 * keeps that topic within Kafka's length limit.
 */
export function stepNameProblem(pipelineId: string, name: string): string | undefined {
  if (!STEP_NAME.test(name))
    return `invalid step name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-', starting with a letter or digit (it names state and topics)`
  const topic = `${pipelineId}-${name}-changelog`
  if (topic.length > MAX_TOPIC_NAME)
    return `step name "${name}" is too long: its changelog topic "${pipelineId}-…-changelog" would have ${topic.length} characters, and Kafka allows ${MAX_TOPIC_NAME}`
  return undefined
}
