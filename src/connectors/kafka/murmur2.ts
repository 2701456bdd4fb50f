import type { MessageToProduce } from '@platformatic/kafka'

/** Kafka's murmur2 (org.apache.kafka.common.utils.Utils#murmur2), in 32-bit integer arithmetic. */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995
  const length = data.length
  let h = 0x9747b28c ^ length
  const whole = length & ~3
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)
    k = Math.imul(k, m)
    k ^= k >>> 24
    k = Math.imul(k, m)
    h = Math.imul(h, m) ^ k
  }
  const rest = length & 3
  if (rest === 3) h ^= data[whole + 2]! << 16
  if (rest >= 2) h ^= data[whole + 1]! << 8
  if (rest >= 1) h = Math.imul(h ^ data[whole]!, m)
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h | 0
}

/**
 * The producer's partitioner for keyed records: Java's default, `murmur2(key) & 0x7fffffff` (the client takes it
 * modulo the partition count), as the client's `compatibilityPartitioner` computes it. The client's murmur2 works
 * in BigInt arithmetic: per record it cost about 2 % of the etl pipeline's CPU and 640 bytes of garbage
 * (bench/README.md, "CPU per event"); this one allocates nothing. Keyless records go to partition 0, as with the
 * client's.
 */
export function murmur2Partitioner(_message: MessageToProduce, key: Buffer | undefined): number {
  return key ? murmur2(key) & 0x7fffffff : 0
}
