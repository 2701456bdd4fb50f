import { compatibilityPartitioner } from '@platformatic/kafka'
import { toBuffer } from './records.ts'

/**
 * The partition our producer (KafkaProducer) sends a keyed record to, out of `partitions`: the client's
 * Java-compatible murmur2 partitioner, taken modulo the partition count as the client does, so the test
 * driver places a key where a real run would read it.
 */
export function partitionForKey(key: Buffer | string, partitions: number): number {
  const bytes = toBuffer(key)
  return compatibilityPartitioner({ topic: '', key: bytes }, bytes) % partitions
}
