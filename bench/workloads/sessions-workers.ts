/** (h) scaling: the sessions pipeline (per-user state) with 1, then 2 workers (bench/lib/scaling.ts). */
import { runWorkload } from '../lib/child.ts'
import { scalingWorkload } from '../lib/scaling.ts'

runWorkload((config) => scalingWorkload(config, 'sessions'))
