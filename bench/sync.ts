// npm run bench:sync [-- --count N]: first sync of N persons between two instances over
// loopback libp2p (both in this process for now).
import '../src/polyfill.ts'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { writeResults } from './results.ts'
import { runSyncBench } from './sync-bench.ts'

const { values } = parseArgs({ options: { count: { type: 'string', default: '100000' } } })
const count = Number(values.count)
if (!Number.isInteger(count) || count < 1) {
  process.stderr.write(`--count: expected a positive integer, got ${values.count}\n`)
  process.exit(2)
}
const result = await runSyncBench(count)
process.stdout.write(
  `first sync, ${count} persons, ${cpus().length} cores, Node ${process.version}\n`,
)
for (const [name, value] of Object.entries(result)) {
  process.stdout.write(`  ${name.padEnd(20)} ${String(value).padStart(12)}\n`)
}
writeResults('sync', result)
