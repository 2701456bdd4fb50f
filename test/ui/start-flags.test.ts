import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { after, test } from 'node:test'
import { runCli } from '../helpers/cli.ts'

const server = createServer()
after(() => new Promise<void>((resolve) => server.close(() => resolve())))

test('sluice start --ui-port on a busy port: one clear line, exit code 2, before anything starts', async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address && typeof address === 'object')
  // The brokers point nowhere: the command must fail on the port before it tries them.
  const result = await runCli(['start', '--ui-port', String(address.port), '--brokers', '127.0.0.1:9'], {
    timeoutMs: 30_000,
  })
  assert.equal(result.code, 2, result.stderr)
  assert.equal(
    result.stderr.trim(),
    `sluice: Port ${address.port} on 127.0.0.1 is already in use: choose another dashboard port with --ui-port, or leave --ui-port out to take the next free one`,
  )
})

test('sluice start --ui-port with a value that is not a port: a usage error', async () => {
  const result = await runCli(['start', '--ui-port', '70000'], { timeoutMs: 30_000 })
  assert.equal(result.code, 2)
  assert.match(result.stderr, /expected a port between 0 and 65535, got "70000"/)
})
