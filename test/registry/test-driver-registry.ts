import assert from 'node:assert/strict'
import { before, test } from 'node:test'
import { memory } from '../../src/connectors/testing/memory.ts'
import { memorySource } from '../../src/connectors/testing/memory-source.ts'
import { pipeline } from '../../src/dsl/stream.ts'
import { DEFAULT_RECORD_LIMITS } from '../../src/plan/record-limits.ts'
import { RegistryClient } from '../../src/registry/client.ts'
import { codecFor } from '../../src/registry/codec.ts'
import { registry } from '../../src/registry/registry-parser.ts'
import { frame } from '../../src/registry/wire-format.ts'
import { TestDriver } from '../../src/testing/test-driver.ts'
import type { TestRegistry } from '../helpers/apicurio.ts'

export function testDriverRegistryTests(registryServer: () => Promise<TestRegistry>): void {
  /** The brokerless TestDriver runs a parse(registry()) step as the runtime does: schemas fetched before the batch. */

  let server: TestRegistry
  before(async () => {
    server = await registryServer()
  })

  const visit = {
    schemaType: 'AVRO' as const,
    schema: JSON.stringify({
      type: 'record',
      name: 'Visit',
      fields: [
        { name: 'page', type: 'string' },
        { name: 'n', type: 'long' },
      ],
    }),
  }

  test('the TestDriver fetches the schemas of a registry parse before each batch', async () => {
    const id = await new RegistryClient({ url: server.url }).register('driver-visits-value', visit)
    const codec = codecFor(visit, DEFAULT_RECORD_LIMITS)
    const visits = pipeline('driver-registry')
      .from(memorySource('visits'))
      .parse(registry<{ page: string; n: number }>({ url: server.url, subject: 'driver-visits-value' }))
      .filter((v) => v.n > 1)
      .to(memory())
    const driver = await TestDriver.create(visits)
    try {
      driver.send([
        frame(id, codec.encode({ page: '/a', n: 1 })),
        frame(id, codec.encode({ page: '/b', n: 2 })),
      ])
      assert.throws(
        () => driver.runBatch(),
        /fetches before it decodes .*use await driver\.runBatchAsync\(\)/,
      )
      await driver.runBatchAsync()
      driver.send([
        frame(id, codec.encode({ page: '/c', n: 3 })),
        frame(id + 1000, codec.encode({ page: '/d', n: 4 })),
      ])
      await driver.endInputAsync()
      assert.deepEqual(driver.output, [
        { page: '/b', n: 2 },
        { page: '/c', n: 3 },
      ])
      assert.deepEqual(
        driver.deadLetters.map((d) => d.reason),
        [`schema id ${id + 1000} is unknown to the registry at ${server.url}`],
      )
    } finally {
      driver.close()
    }
  })
}
