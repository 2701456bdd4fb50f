import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rename } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { LocalKafkaError } from '../errors.ts'
import { findMaven } from './tools.ts'

const run = promisify(execFile)

/** The pom that names Apache Kafka's broker jars and the logging backend its release tarball adds. */
export const BROKER_POM = fileURLToPath(new URL('../../kafka/pom.xml', import.meta.url))

/** Where the broker's classpath and class archive are kept between runs (~/.cache/sluice/kafka). */
export function cacheRoot(): string {
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache')
  return join(base, 'sluice', 'kafka')
}

/**
 * Returns the Java classpath of the Kafka broker. Maven resolves the jars into its own local repository
 * (~/.m2), which is the cache between runs; we keep the resulting classpath string keyed by the pom's hash,
 * so later starts do not even launch Maven.
 */
export async function brokerClasspath(log: (line: string) => void = () => {}): Promise<string> {
  const pom = await readFile(BROKER_POM)
  const key = createHash('sha256').update(pom).digest('hex').slice(0, 16)
  const cacheFile = join(cacheRoot(), `classpath-${key}.txt`)
  if (existsSync(cacheFile)) {
    const cached = (await readFile(cacheFile, 'utf8')).trim()
    if (cached.split(':').every((jar) => existsSync(jar))) return cached
  }
  const mvn = await findMaven()
  log('Resolving the Kafka broker jars with Maven (first run only)…')
  await mkdir(dirname(cacheFile), { recursive: true })
  const tmp = `${cacheFile}.${process.pid}.tmp`
  try {
    await run(
      mvn,
      [
        '-B',
        '-q',
        '-f',
        BROKER_POM,
        'dependency:build-classpath',
        `-Dmdep.outputFile=${tmp}`,
        '-Dmdep.includeScope=runtime',
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    )
  } catch (error) {
    const output = error instanceof Error && 'stdout' in error ? String(error.stdout).slice(-2000) : ''
    throw new LocalKafkaError(
      `Maven could not resolve the Kafka broker jars (is Maven Central reachable?)\n${output}`,
      error,
    )
  }
  const classpath = (await readFile(tmp, 'utf8')).trim()
  if (!classpath.includes('kafka_2.13')) {
    throw new LocalKafkaError(
      `Maven returned a classpath without the Kafka broker jar: ${classpath.slice(0, 200)}`,
    )
  }
  await rename(tmp, cacheFile)
  return classpath
}
