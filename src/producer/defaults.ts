/** Producer defaults, in a module of their own so the CLI can show them without loading the producer. */
export const DEFAULTS = {
  batchSize: 2000,
  batchBytes: 1024 * 1024,
  maxInFlight: 4,
  partitions: 3,
  progressIntervalMs: 250,
  deliveryTimeoutMs: 120_000,
} as const
