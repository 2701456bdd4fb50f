/**
 * What a step function may read about the record a value came from, beside the value itself:
 * `.map((event, meta) => ({ ...event, key: meta.key, at: meta.timestamp }))`. For a value made by an earlier
 * step (flatMap, a window's row), it is the record that step was running on.
 */
export interface RecordMeta {
  /** The record's key as UTF-8 text; null when it has none. */
  readonly key: string | null
  /** The key's bytes as they arrived (a Kafka key); null when it has none. */
  readonly keyBytes: Buffer | null
  /** The broker's timestamp (create or append time), or a file record's, in epoch milliseconds. */
  readonly timestamp: number
  /** The source partition, e.g. "events:3". */
  readonly partition: string
  /** The record's position in its partition (a Kafka offset). */
  readonly offset: number
  /** Header values as UTF-8 text by name (the last one when a name repeats); empty when it has none. */
  readonly headers: Readonly<Record<string, string>>
}
