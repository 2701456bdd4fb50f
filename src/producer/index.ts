export { Pacer } from './pacer.ts'
export {
  DEFAULTS as PRODUCE_DEFAULTS,
  type FileDestination,
  type KafkaDestination,
  ProduceFailedError,
  type ProduceOptions,
  type ProduceProgress,
  type ProduceSummary,
  produceClickstream,
} from './produce.ts'
