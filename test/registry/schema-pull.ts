import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { clickEventSchemaFor } from '../../src/clickstream/registry-schemas.ts'
import { RegistryClient } from '../../src/registry/client.ts'
import { FORMATS } from '../../src/registry/schema-type.ts'
import type { TestRegistry } from '../helpers/apicurio.ts'
import { runCli } from '../helpers/cli.ts'

export function schemaPullTests(registryServer: () => Promise<TestRegistry>): void {
  /**
   * `sluice schema pull SUBJECT --out file.ts` (issue 17): the type it writes from the registry's latest schema
   * compiles against a pipeline that uses it, in each format, and a field the schema lacks does not.
   */

  const REPO = fileURLToPath(new URL('../../', import.meta.url))
  let server: TestRegistry
  let dir: string
  before(async () => {
    server = await registryServer()
    dir = await mkdtemp(join(tmpdir(), 'sluice-schema-pull-'))
    await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n')
  })
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  /** tsc, strict as the repository's own, over these files; its output, or '' when they compile. */
  async function typeErrors(files: readonly string[]): Promise<string> {
    const config = join(dir, `tsconfig-${Date.now()}.json`)
    await writeFile(
      config,
      JSON.stringify({
        extends: join(REPO, 'tsconfig.json'),
        // Outside the repository: its node types, and imports of its sources by absolute path.
        compilerOptions: {
          typeRoots: [join(REPO, 'node_modules/@types')],
          rewriteRelativeImportExtensions: false,
        },
        include: [],
        files,
      }),
    )
    try {
      await promisify(execFile)(process.execPath, [
        join(REPO, 'node_modules/typescript/bin/tsc'),
        '-p',
        config,
      ])
      return ''
    } catch (error) {
      return String((error as { stdout?: string }).stdout ?? error)
    }
  }

  const pipelineUsing = (typeFile: string, typeName: string, body: string) => `
  import { kafka } from '${join(REPO, 'src/connectors/kafka/source.ts')}'
  import { pipeline } from '${join(REPO, 'src/dsl/stream.ts')}'
  import { registry } from '${join(REPO, 'src/registry/registry-parser.ts')}'
  import type { ${typeName} } from './${typeFile}'
  export const clicks = pipeline('clicks')
    .from(kafka({ brokers: '127.0.0.1:9092', topics: 'clicks' }))
    .parse(registry<${typeName}>({ url: 'http://127.0.0.1:8081' }))
    .map((e) => (${body}))
  `

  test('sluice schema pull writes a type from the Avro, Protobuf and JSON Schema subjects that a pipeline compiles against', async () => {
    const client = new RegistryClient({ url: server.url })
    const files: string[] = []
    const wrong: string[] = []
    for (const format of FORMATS) {
      const subject = `clicks-${format}-value`
      await client.register(subject, clickEventSchemaFor(format))
      const out = join(dir, `clicks-${format}.ts`)
      const pulled = await runCli(['schema', 'pull', subject, '--out', out, '--registry', server.url])
      assert.equal(pulled.code, 0, pulled.stderr)
      const typeName = `Clicks${format === 'avro' ? 'Avro' : format === 'protobuf' ? 'Protobuf' : 'JsonSchema'}`
      assert.match(pulled.stderr, new RegExp(`^Wrote type ${typeName} \\(`))
      assert.match(await readFile(out, 'utf8'), new RegExp(`^export type ${typeName} = \\{$`, 'm'))
      const good = join(dir, `use-${format}.ts`)
      await writeFile(
        good,
        pipelineUsing(
          `clicks-${format}.ts`,
          typeName,
          // Protobuf gives an unset message field as null: page may be null there.
          '{ path: e.page?.path, type: e.event_type, price: e.product?.price ?? null, items: e.cart?.items ?? 0 }',
        ),
      )
      files.push(good)
      const bad = join(dir, `misuse-${format}.ts`)
      await writeFile(bad, pipelineUsing(`clicks-${format}.ts`, typeName, '{ path: e.page?.no_such_field }'))
      wrong.push(bad)
    }
    assert.equal(await typeErrors(files), '')
    for (const bad of wrong) assert.match(await typeErrors([bad]), /no_such_field/, bad)

    const missing = await runCli(['schema', 'pull', 'no-such-subject', '--registry', server.url])
    assert.equal(missing.code, 2, missing.stderr)
    assert.match(missing.stderr, /no-such-subject/)
  })
}
