export { DEFAULTS as PRODUCE_DEFAULTS } from './defaults.ts'
export { Pacer } from './pacer.ts'
export {
  type FileDestination,
  type KafkaDestination,
  type OutageEvent,
  ProduceFailedError,
  type ProduceFileOptions,
  type ProduceOptions,
  type ProduceProgress,
  type ProduceSummary,
  produceClickstream,
  produceFile,
} from './produce.ts'
