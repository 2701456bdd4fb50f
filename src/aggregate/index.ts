export {
  type AccsOf,
  type AggregatorRecord,
  aggregates,
  type InputsOf,
  type OutputsOf,
} from './aggregates.ts'
export {
  type AccOf,
  type Aggregator,
  type AggregatorDefinition,
  aggregator,
  type InputOf,
  type OutputOf,
  type Selector,
} from './aggregator.ts'
export { type AvgAcc, avg } from './avg.ts'
export { type CollectOptions, collect, defaultCollectMax } from './collect.ts'
export { count } from './count.ts'
export { countDistinct } from './count-distinct.ts'
export { type FirstLastAcc, type FirstLastOptions, first, last } from './first-last.ts'
export {
  type ApproxCountDistinctOptions,
  approxCountDistinct,
  HyperLogLog,
  type HyperLogLogSnapshot,
  standardError,
} from './hyperloglog.ts'
export { max, min } from './min-max.ts'
export { sum } from './sum.ts'
