import { murmur2Partitioner } from './murmur2.ts'
import { toBuffer } from './records.ts'

/**
 * The partition our producer (KafkaProducer) sends a keyed record to, out of `partitions`: its Java-compatible
 * murmur2 partitioner, taken modulo the partition count as the client does, so the test driver places a key
 * where a real run would read it.
 */
export function partitionForKey(key: Buffer | string, partitions: number): number {
  const bytes = toBuffer(key)
  return murmur2Partitioner({ topic: '', key: bytes }, bytes) % partitions
}
