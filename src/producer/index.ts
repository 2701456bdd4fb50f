export { Pacer } from './pacer.ts'
export {
  DEFAULTS as PRODUCE_DEFAULTS,
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
