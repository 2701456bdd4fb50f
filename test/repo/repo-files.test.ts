import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { parse } from 'yaml'
import { program } from '../../src/cli/main.ts'

interface Service {
  image?: string
  command?: string[]
  environment?: Record<string, string | number>
  depends_on?: Record<string, unknown>
}

const file = new URL('../../docker-compose.yml', import.meta.url)

test('docker-compose.yml: Kafka 4.1 KRaft, PostgreSQL, the ETL, a producer and a listener, with commands the CLI accepts', () => {
  const compose = parse(readFileSync(file, 'utf8')) as { services: Record<string, Service> }
  const { kafka, postgres, etl, producer, listener } = compose.services
  assert.match(etl?.environment?.DATABASE_URL?.toString() ?? '', /^postgres:\/\/.*@postgres:5432\//)
  assert.match(kafka?.image ?? '', /^apache\/kafka:4\.1\./)
  assert.equal(kafka?.environment?.KAFKA_PROCESS_ROLES, 'broker,controller')
  assert.match(postgres?.image ?? '', /^postgres:\d+/)
  for (const service of [etl, producer, listener]) {
    assert.ok(service?.command, 'has a command')
    assert.deepEqual(service.command.slice(0, 2), ['npx', 'sluice'])
    assert.equal(service.environment?.KAFKA_BROKERS, 'kafka:9092')
    const sub = program().commands.find((c) => c.name() === service.command?.[2])
    assert.ok(sub, `sluice ${service.command[2]} exists`)
    for (const flag of service.command.filter((a) => a.startsWith('--'))) {
      assert.ok(
        sub.options.some((o) => o.long === flag),
        `sluice ${service.command[2]} accepts ${flag}`,
      )
    }
  }
})

test('docker compose validates the file where Docker Compose is installed', (t) => {
  try {
    execFileSync('docker', ['compose', 'version'], { stdio: 'ignore' })
  } catch {
    t.skip('docker compose is not installed on this machine')
    return
  }
  execFileSync('docker', ['compose', '-f', file.pathname, 'config', '--quiet'])
})

test('the README shows examples/page-metrics.ts as it is', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const example = readFileSync(new URL('../../examples/page-metrics.ts', import.meta.url), 'utf8').trimEnd()
  assert.ok(
    readme.includes(`\`\`\`ts\n${example}\n\`\`\``),
    'README.md is out of date: paste examples/page-metrics.ts again',
  )
})
