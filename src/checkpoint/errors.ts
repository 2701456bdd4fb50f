import { SluiceError } from '../errors.ts'

/** The pipeline changed in a way its checkpoint cannot follow; the message lists every difference. */
export class CheckpointIncompatibleError extends SluiceError {
  readonly differences: readonly string[]

  constructor(location: string, differences: readonly string[]) {
    super(
      'SLUICE_CHECKPOINT_INCOMPATIBLE',
      `The checkpoint in ${location} was written by a different pipeline:\n  - ${differences.join('\n  - ')}\n` +
        'Restore the previous definition, or start from a new checkpoint location (state and progress start over).',
      { domain: 'user', exitCode: 2 },
    )
    this.differences = differences
  }
}

export class CheckpointCorruptError extends SluiceError {
  constructor(message: string, cause?: unknown) {
    super('SLUICE_CHECKPOINT_CORRUPT', message, { domain: 'external', cause })
  }
}
