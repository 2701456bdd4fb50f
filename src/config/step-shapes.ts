import type { StepDocument } from './document.ts'
import type { KnownVariable } from './field-references.ts'
import { anyShape, closedObject, type Shape, withShapeField } from './record-shape.ts'

/**
 * The shape of the records after step `i` of a pipeline file (and the steps it takes with it: keyBy's window
 * and aggregate, or process), from the shape before it. Steps that pass records on keep it; steps that build
 * records of named fields (select, a map of fields, a window's aggregate rows) make a closed one; steps whose
 * output the file does not spell out (a map or flatMap of one expression, process) make it unknown.
 */
export function recordsAfter(steps: readonly StepDocument[], i: number, input: KnownVariable): KnownVariable {
  const step = steps[i]!
  const made = (shape: Shape): KnownVariable => ({ shape, origin: `made by step ${i + 1} (${step.kind})` })
  switch (step.kind) {
    case 'filter':
    case 'dedupe':
      return input
    case 'map':
      return typeof step.value === 'string'
        ? made(anyShape)
        : made(closedObject(Object.keys(step.value).map((name) => [name, anyShape])))
    case 'withField':
      return { ...input, shape: withShapeField(input.shape, step.value.name) }
    case 'select':
      return made(closedObject(step.value.map((name) => [name, fieldShape(input.shape, name)])))
    case 'join': {
      const added = step.value.as !== undefined ? [step.value.as] : Object.keys(step.value.fields ?? {})
      return { ...input, shape: added.reduce((shape, name) => withShapeField(shape, name), input.shape) }
    }
    case 'keyBy': {
      const aggregate = steps[i + 2]
      if (steps[i + 1]?.kind !== 'window' || aggregate?.kind !== 'aggregate') return made(anyShape)
      const names = ['key', 'window_start', 'window_end', ...Object.keys(aggregate.value.fields)]
      return {
        shape: closedObject(names.map((name) => [name, anyShape])),
        origin: `of the rows of step ${i + 3} (aggregate)`,
      }
    }
    default:
      return made(anyShape)
  }
}

function fieldShape(shape: Shape, name: string): Shape {
  return shape.kind === 'object' ? (shape.fields.get(name) ?? anyShape) : anyShape
}

/** Whether records of `shape` cannot have top-level field `name` (a select's or the watermark's field). */
export function lacksField(shape: Shape, name: string): boolean {
  return shape.kind === 'object' && shape.closed && !shape.fields.has(name)
}
