// npm run bench:sync [-- --count N]: first sync of 10,000 and then 100,000 persons (or N)
// between two instances in separate processes over loopback libp2p.
import '../src/polyfill.ts'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { writeResults } from './results.ts'
import { runSyncBench } from './sync-bench.ts'

const { values } = parseArgs({ options: { count: { type: 'string' } } })
const counts = values.count === undefined ? [10_000, 100_000] : [Number(values.count)]
if (!counts.every((count) => Number.isInteger(count) && count >= 1)) {
  process.stderr.write(`--count: expected a positive integer, got ${values.count}\n`)
  process.exit(2)
}
const results = []
for (const count of counts) {
  const result = await runSyncBench(count)
  results.push(result)
  process.stdout.write(
    `first sync, ${count} persons, ${cpus().length} cores, Node ${process.version}\n`,
  )
  for (const [name, value] of Object.entries(result)) {
    process.stdout.write(`  ${name.padEnd(20)} ${String(value).padStart(12)}\n`)
  }
}
writeResults('sync', results.length === 1 ? results[0] : results)
