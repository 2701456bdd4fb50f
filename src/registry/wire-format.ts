/**
 * The Confluent wire format: a magic byte 0, the schema id as a 4-byte big-endian integer, then the payload.
 * Protobuf payloads start with the message's index path in the schema (message-indexes.ts).
 */
export const MAGIC_BYTE = 0
export const HEADER_BYTES = 5

export type Framed = { ok: true; id: number; payload: Buffer } | { ok: false; reason: string }

/** Splits a record value into its schema id and payload, or says why it is not in the wire format. */
export function unframe(raw: unknown): Framed {
  if (raw === null || raw === undefined) return { ok: false, reason: 'empty value (null)' }
  if (!(raw instanceof Uint8Array))
    return { ok: false, reason: `expected bytes in the Confluent wire format, got a ${typeof raw}` }
  const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
  if (bytes.length < HEADER_BYTES)
    return {
      ok: false,
      reason: `not in the Confluent wire format: ${bytes.length} bytes, fewer than the 5 of its header`,
    }
  if (bytes[0] !== MAGIC_BYTE)
    return {
      ok: false,
      reason: `not in the Confluent wire format: magic byte 0x${bytes[0]!.toString(16).padStart(2, '0')}, expected 0x00`,
    }
  return { ok: true, id: bytes.readUInt32BE(1), payload: bytes.subarray(HEADER_BYTES) }
}

/** The header for a schema id, followed by the payload parts. */
export function frame(id: number, ...parts: readonly Uint8Array[]): Buffer {
  const header = Buffer.allocUnsafe(HEADER_BYTES)
  header[0] = MAGIC_BYTE
  header.writeUInt32BE(id, 1)
  return Buffer.concat([header, ...parts])
}

/** The schema id of a value in the wire format, or undefined (for fetching schemas before a batch runs). */
export function schemaIdOf(raw: unknown): number | undefined {
  if (!(raw instanceof Uint8Array) || raw.length < HEADER_BYTES || raw[0] !== MAGIC_BYTE) return undefined
  return ((raw[1]! << 24) >>> 0) + (raw[2]! << 16) + (raw[3]! << 8) + raw[4]!
}
