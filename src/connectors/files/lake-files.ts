import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { UsageError } from '../../errors.ts'
import type { SourceContext, SourceReader } from '../../runtime/source.ts'
import { LOG_DIR } from '../lake/log.ts'
import { LakeTableReader } from '../lake/source.ts'
import type { FilesOptions } from './files-source.ts'

/** Whether a local folder holds a lake table written by lake() (its commit log). */
export function isLakeTable(path: string): boolean {
  return existsSync(join(path, LOG_DIR))
}

/**
 * files() over a lake table: read through the commit log (only committed files, whole commits in order;
 * watch mode follows new commits), never by listing the folder, which could show files of a commit whose
 * renames are under way, or data files on S3 that no commit names yet. JSON-lines rows come as their lines of
 * text (as from any JSON-lines file), Parquet rows as objects.
 */
export function lakeTableFiles(options: FilesOptions, context: SourceContext): SourceReader {
  if (options.format === 'csv')
    throw new UsageError(
      `files(): ${options.path} is a lake table: read it with format 'parquet' or 'jsonl'.`,
    )
  return new LakeTableReader(
    {
      path: options.path,
      follow: options.watch ?? false,
      format: options.format,
      // JSON lines stay text, as files() yields them from any file.
      linesAsText: true,
      ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
      ...(options.s3 ? { s3: options.s3 } : {}),
    },
    context,
  )
}
