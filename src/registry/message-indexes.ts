/**
 * Confluent's Protobuf payloads name their message type by its path of indexes in the .proto file (the
 * second top-level message and its first nested one: [1, 0]), written as zigzag varints: the count, then the
 * indexes. The common case, the first top-level message, is one byte 0.
 */
export type Indexes = { ok: true; path: number[]; rest: Buffer } | { ok: false; reason: string }

/** At most this many levels of nesting: more is a corrupt record, not a schema. */
const MAX_DEPTH = 32

export function readIndexes(payload: Buffer): Indexes {
  let offset = 0
  const next = (): number | undefined => {
    let result = 0
    for (let shift = 0; shift < 35; shift += 7) {
      if (offset >= payload.length) return undefined
      const byte = payload[offset++]!
      result |= (byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return (result >>> 1) ^ -(result & 1)
    }
    return undefined
  }
  const count = next()
  if (count === undefined || count < 0 || count > MAX_DEPTH)
    return { ok: false, reason: 'protobuf message indexes unreadable (the payload is cut off or corrupt)' }
  if (count === 0) return { ok: true, path: [0], rest: payload.subarray(offset) }
  const path: number[] = []
  for (let i = 0; i < count; i++) {
    const index = next()
    if (index === undefined || index < 0)
      return { ok: false, reason: 'protobuf message indexes unreadable (the payload is cut off or corrupt)' }
    path.push(index)
  }
  return { ok: true, path, rest: payload.subarray(offset) }
}

export function writeIndexes(path: readonly number[]): Buffer {
  if (path.length === 1 && path[0] === 0) return Buffer.from([0])
  const bytes: number[] = []
  const write = (value: number) => {
    let n = ((value << 1) ^ (value >> 31)) >>> 0
    while (n >= 0x80) {
      bytes.push((n & 0x7f) | 0x80)
      n >>>= 7
    }
    bytes.push(n)
  }
  write(path.length)
  for (const index of path) write(index)
  return Buffer.from(bytes)
}
