import assert from 'node:assert/strict'
import { unlinkSync, watch } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { test } from 'node:test'
import { LocalLakeStorage } from '../../../src/connectors/lake/storage.ts'
import { tempDir } from './helpers.ts'

/** The local storage's commit point (putIfAbsent) with several writers on one table. */

test('a commit whose temporary log file another writer’s recovery deleted writes it again', async () => {
  const table = join(await tempDir(), 't')
  const storage = new LocalLakeStorage(table)
  await mkdir(join(table, '_sluice_log'), { recursive: true })
  // Plays a writer opening the table, which deletes the temporary files it finds in the log folder: the
  // first one, while the commit that wrote it is still on its way to link(2).
  let deleted = ''
  const watcher = watch(join(table, '_sluice_log'), (_event, name) => {
    if (deleted || !name?.startsWith('.tmp-')) return
    try {
      unlinkSync(join(table, '_sluice_log', name))
      deleted = name
    } catch {}
  })
  try {
    assert.equal(await storage.putIfAbsent('_sluice_log/00000000000000000000.json', Buffer.from('{}')), true)
  } finally {
    watcher.close()
  }
  assert.ok(deleted, 'the temporary file was deleted before its link')
  assert.equal(await readFile(join(table, '_sluice_log', '00000000000000000000.json'), 'utf8'), '{}')
  assert.equal(await storage.putIfAbsent('_sluice_log/00000000000000000000.json', Buffer.from('{}')), false)
})
