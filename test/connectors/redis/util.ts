import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before } from 'node:test'
import { createClient, type RedisClientType } from 'redis'
import { startRedis, type TestRedis } from '../../helpers/redis.ts'

/** One private redis-server per test file and a client of its own for the checks; stopped after it. */
export function useRedis(): { server: () => TestRedis; client: () => RedisClientType } {
  let server: TestRedis | undefined
  let client: RedisClientType | undefined
  before(async () => {
    server = await startRedis()
    client = createClient({ url: server.url })
    client.on('error', () => {})
    await client.connect()
  })
  after(async () => {
    await client?.close().catch(() => {})
    await server?.stop()
  })
  return {
    server: () => {
      if (!server) throw new Error('redis-server is not started yet')
      return server
    },
    client: () => {
      if (!client) throw new Error('redis-server is not started yet')
      return client
    },
  }
}

const dirs: string[] = []
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-redis-ckpt-'))
  dirs.push(dir)
  return dir
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** Every key matching `pattern` (SCAN, so a large keyspace is not blocked). */
export async function keysOf(client: RedisClientType, pattern: string): Promise<string[]> {
  const keys: string[] = []
  for await (const batch of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) keys.push(...batch)
  return keys.sort()
}
