import { after } from 'node:test'
import { startRegistry, type TestRegistry } from '../helpers/apicurio.ts'
import { kafkaSinkRegistryTests } from './kafka-sink-registry.ts'
import { registryFormatTests } from './registry-formats.ts'
import { schemaPullTests } from './schema-pull.ts'
import { testDriverRegistryTests } from './test-driver-registry.ts'

/**
 * The tests against a schema registry share one Apicurio: starting one takes 10–20 s here (a JVM), four
 * starts were ~45 s of npm test. Each test uses subjects of its own topics, so they do not see each other.
 * The first `before` hook that asks for it starts it.
 */
let starting: Promise<TestRegistry> | undefined
function registry(): Promise<TestRegistry> {
  starting ??= startRegistry()
  return starting
}
after(async () => {
  const server = await starting?.catch(() => undefined)
  await server?.stop()
})

registryFormatTests(registry)
kafkaSinkRegistryTests(registry)
testDriverRegistryTests(registry)
schemaPullTests(registry)
