import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { MissingToolError } from '../errors.ts'

const run = promisify(execFile)

/** The Java major version Kafka 4.x brokers need. */
const MIN_JAVA = 17

/** Resolves the `java` binary (JAVA_HOME first) and checks it is recent enough for a Kafka 4 broker. */
export async function findJava(): Promise<{ path: string; versionText: string }> {
  const java = process.env.JAVA_HOME ? `${process.env.JAVA_HOME}/bin/java` : 'java'
  let versionText: string
  try {
    // `java -version` writes to stderr.
    const { stderr, stdout } = await run(java, ['-version'])
    versionText = stderr + stdout
  } catch {
    throw new MissingToolError(
      `Java ${MIN_JAVA}+ is needed to run the local Kafka broker: install it (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME.`,
    )
  }
  const major = parseJavaMajor(versionText)
  if (major !== undefined && major < MIN_JAVA) {
    throw new MissingToolError(
      `Java ${major} found but Kafka 4 needs Java ${MIN_JAVA}+: install openjdk-17-jre-headless or point JAVA_HOME at a newer JDK.`,
    )
  }
  return { path: java, versionText }
}

/** Parses "openjdk version \"17.0.15\"" or "java version \"1.8.0_392\"" into a major version. */
export function parseJavaMajor(versionText: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionText)
  if (!match) return undefined
  const first = Number(match[1])
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first
}

/** Resolves Maven, which fetches the broker's jars from Maven Central the first time. */
export async function findMaven(): Promise<string> {
  const mvn = process.env.MAVEN_HOME ? `${process.env.MAVEN_HOME}/bin/mvn` : 'mvn'
  try {
    await run(mvn, ['--version'])
  } catch {
    throw new MissingToolError(
      'Maven is needed to fetch the Kafka broker jars: install it (Debian: apt-get install maven) or set MAVEN_HOME.',
    )
  }
  return mvn
}
