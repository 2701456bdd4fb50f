import { dirname, resolve } from 'node:path'
import { loadTestFile } from '../config/test-file.ts'
import { SluiceError } from '../errors.ts'
import { runTestCases } from '../testing/yaml-cases.ts'

/** Runs each test file's cases and prints pass or fail per case, with a diff; fails with exit 1 if one failed. */
export async function testFiles(
  files: readonly string[],
  out: { write(text: string): unknown },
): Promise<void> {
  let passed = 0
  let failed = 0
  for (const file of files) {
    const doc = await loadTestFile(file)
    const pipeline = resolve(dirname(file), doc.pipeline)
    out.write(`${file} (${doc.pipeline})\n`)
    for (const result of await runTestCases(pipeline, doc.tests)) {
      if (result.problems.length === 0) {
        passed++
        out.write(`  ✔ ${result.name}\n`)
      } else {
        failed++
        out.write(`  ✖ ${result.name}\n${result.problems.map((p) => `      ${p}\n`).join('')}`)
      }
    }
  }
  out.write(`${passed} passed, ${failed} failed\n`)
  if (failed > 0)
    throw new SluiceError('SLUICE_TEST_FAILED', `${failed} of ${passed + failed} tests failed`, {
      domain: 'user',
      exitCode: 1,
    })
}
