const utf8 = new TextDecoder('utf-8', { fatal: true })

/** A dead letter's raw bytes as text when they are valid UTF-8 (most are JSON), otherwise undefined. */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}
