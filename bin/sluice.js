#!/usr/bin/env -S node --max-semi-space-size=8
// V8 flags: src/cli/node-flags.ts says why (and the npm scripts repeat them).
// Runs the TypeScript sources directly: Node 22.18+ and 24 strip types natively, so there is no build step.
// This check is Sluice's only statement of the Node it needs: package.json has no "engines", because npm
// checks those against the node npm itself runs on, and here that is often an older system node while
// npx and the npm scripts run Sluice on the project's Node 24 (its `node` dev dependency).
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 22) || (major === 24 && minor < 6) || major === 23) {
  process.stderr.write(
    `sluice: Node.js ${process.versions.node} is too old; run through npm (npx sluice, npm start), which uses the project's Node 24, or install Node 24.\n`,
  )
  process.exit(2)
}
// V8's code cache on disk (in the OS temp folder): with ~300 modules of ours and the Kafka client's to compile,
// it cuts each later start's CPU by about a third (`/usr/bin/time sluice lint examples/page-metrics.ts`,
// three runs each: 2.7–3.0 → 1.6–2.1 user CPU-s).
const { enableCompileCache } = await import('node:module')
enableCompileCache?.()
const { main } = await import('../src/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
