import { badSnapshot } from './aggregator.ts'

/*
 * Snapshot helpers shared by the built-ins. JSON has no NaN or Infinity (JSON.stringify turns them into null),
 * so a sum that overflowed would silently restore as null; these spell such numbers out as strings instead.
 */

const nonFinite: Readonly<Record<string, number>> = {
  NaN: Number.NaN,
  Infinity: Infinity,
  '-Infinity': -Infinity,
}

export function encodeNumber(value: number): number | string {
  return Number.isFinite(value) ? value : String(value)
}

export function decodeNumber(kind: string, snapshot: unknown, whole: unknown = snapshot): number {
  if (typeof snapshot === 'number') return snapshot
  if (typeof snapshot === 'string') {
    const value = nonFinite[snapshot]
    if (value !== undefined) return value
  }
  throw badSnapshot(kind, 'expected a number', whole)
}

/** The values min/max compare and countDistinct counts. */
export type Scalar = number | string

/** Strings stay strings; non-finite numbers, which would be mistaken for strings, are wrapped. */
export function encodeScalar(value: Scalar): number | string | { readonly n: string } {
  return typeof value === 'number' && !Number.isFinite(value) ? { n: String(value) } : value
}

export function decodeScalar(kind: string, snapshot: unknown, whole: unknown = snapshot): Scalar {
  if (typeof snapshot === 'number' || typeof snapshot === 'string') return snapshot
  if (isRecord(snapshot) && typeof snapshot['n'] === 'string') return decodeNumber(kind, snapshot['n'], whole)
  throw badSnapshot(kind, 'expected a number or string', whole)
}

export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function bytesToBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/

/** Strict, unlike Buffer.from(…, 'base64'), which skips characters it does not know and hides corruption. */
export function base64ToBytes(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !base64Pattern.test(text)) return undefined
  const buffer = Buffer.from(text, 'base64')
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}
