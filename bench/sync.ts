// npm run bench:sync [-- --count N] [--edits N] [--poll-ms MS] [--only store|sql]:
// first sync of 10,000 and then 100,000 persons (or N) between two instances in separate
// processes over loopback libp2p, store to store and then SQLite to SQLite (rows written
// with SQL at A until they are rows at B), with live edit latency for each.
import '../src/polyfill.ts'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { writeResults } from './results.ts'
import { runSqlSyncBench, runSyncBench } from './sync-bench.ts'
import { positiveArg } from './args.ts'

const { values } = parseArgs({
  options: {
    count: { type: 'string' },
    edits: { type: 'string', default: '1000' },
    'poll-ms': { type: 'string', default: '50' },
    only: { type: 'string' },
  },
})
const counts = values.count === undefined ? [10_000, 100_000] : [positiveArg('count', values.count)]
const edits = positiveArg('edits', values.edits, 0)
const pollMs = positiveArg('poll-ms', values['poll-ms'])
if (values.only !== undefined && values.only !== 'store' && values.only !== 'sql') {
  process.stderr.write(`--only: expected store or sql, got ${values.only}\n`)
  process.exit(2)
}
const targets: Record<string, string> = {
  firstSyncSeconds: '≤ 10 at 100,000',
  peakRssMbA: '≤ 400',
  peakRssMbB: '≤ 400',
  editLatencyP50Ms: '≤ 20',
  sqlEditLatencyP50Ms: '≤ 50',
  sqlEditLatencyP99Ms: '≤ 250',
}
const results = []
for (const count of counts) {
  const result = {
    ...(values.only === 'sql' ? {} : await runSyncBench(count)),
    ...(values.only === 'store' ? {} : await runSqlSyncBench(count, { edits, pollMs })),
  }
  results.push(result)
  process.stdout.write(
    `first sync, ${count} persons, ${cpus().length} cores, Node ${process.version}\n`,
  )
  for (const [name, value] of Object.entries(result)) {
    process.stdout.write(
      `  ${name.padEnd(20)} ${String(value).padStart(12)}  ${targets[name] ?? ''}`.trimEnd() + '\n',
    )
  }
}
writeResults('sync', results.length === 1 ? results[0] : results)
