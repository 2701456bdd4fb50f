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

/** Another run holds the checkpoint: two runs of one pipeline on one checkpoint location. */
export class CheckpointInUseError extends SluiceError {
  constructor(location: string, cause?: unknown) {
    super(
      'SLUICE_CHECKPOINT_IN_USE',
      `The checkpoint ${location} is in use by another run: is this pipeline already running with the same ` +
        'checkpoint? Stop the other run, or give this one its own checkpoint location.',
      { domain: 'user', exitCode: 2, cause },
    )
  }
}
