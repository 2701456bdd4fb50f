/**
 * The V8 flags Sluice's own processes run with: `bin/sluice.js`'s shebang and the npm scripts that start it
 * carry them (test/repo/node-flags.test.ts checks that they agree), and the benchmark runs its workloads with
 * them.
 *
 * `--max-semi-space-size=8`: a micro-batch allocates tens of MB that die with the batch, and by default V8
 * sizes the young generation for that (semi-spaces of up to 32–64 MiB on a machine with this much memory),
 * which costs 100–150 MB of RSS and no throughput: measured with `npm run bench -- --workload etl --workload
 * state`, peak RSS etl 656 → 594 MB and state (1M keys) 674 → 542 MB at the same events/s. A program that calls
 * run() itself chooses its own flags (NODE_OPTIONS works too).
 */
export const SLUICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8']
