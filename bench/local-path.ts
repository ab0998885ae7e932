// npm run bench:local [-- --count N] [--bulk-edits M]: one instance's half of the SQLite
// path in this process (see local-path-bench.ts), its memory held as `objectsync start`
// holds the daemon's; prints the figures and writes them as JSON under bench/results/.
import { parseArgs } from 'node:util'
import { holdMemory } from '../daemon/memory.ts'
import { positiveArg } from './args.ts'
import { runLocalPathBench } from './local-path-bench.ts'
import { machine, writeResults } from './results.ts'

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '100000' },
    'bulk-edits': { type: 'string', default: '3' },
  },
})
const count = positiveArg('count', values.count)
const bulkEdits = positiveArg('bulk-edits', values['bulk-edits'], 0)

const trimmer = holdMemory()
const result = {
  ...(await runLocalPathBench(count, bulkEdits)),
  // Freed memory handed back over the whole run (daemon/malloc-trim.ts): how often, at
  // what cost.
  localMallocTrims: trimmer?.trims ?? 0,
  localMallocTrimSeconds: Math.round((trimmer?.spentMs ?? 0) / 10) / 1000,
}
process.stdout.write(
  `one instance's local-system path, ${count} persons, ${machine.cores} cores, Node ${machine.node}\n`,
)
for (const [name, value] of Object.entries(result)) {
  const text = Array.isArray(value) ? value.join(' ') : String(value)
  process.stdout.write(`  ${name.padEnd(34)} ${text.padStart(16)}\n`)
}
writeResults('local-path', result)
