// npm run bench:sync [-- --count N] [--edits N] [--poll-ms MS] [--only store|sql|overlap]
// [--no-bulk]:
// first sync of 10,000 and then 100,000 persons (or N) between two instances in separate
// processes over loopback libp2p, store to store and then SQLite to SQLite (rows written
// with SQL at A until they are rows at B), with live edit latency for each; then SQLite to
// SQLite again with half the persons already at B under its own ids (`overlap…`: every
// one must be matched, none duplicated).
import '../src/polyfill.ts'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { writeResults } from './results.ts'
import { runOverlapSyncBench, runSqlSyncBench, runSyncBench } from './sync-bench.ts'
import { positiveArg } from './args.ts'

const { values } = parseArgs({
  options: {
    count: { type: 'string' },
    edits: { type: 'string', default: '1000' },
    'poll-ms': { type: 'string', default: '50' },
    only: { type: 'string' },
    // SQLite to SQLite without the bulk edit and catch-up at the end (a first sync alone).
    'no-bulk': { type: 'boolean', default: false },
  },
})
const counts = values.count === undefined ? [10_000, 100_000] : [positiveArg('count', values.count)]
const edits = positiveArg('edits', values.edits, 0)
const pollMs = positiveArg('poll-ms', values['poll-ms'])
const phases = ['store', 'sql', 'overlap']
if (values.only !== undefined && !phases.includes(values.only)) {
  process.stderr.write(`--only: expected ${phases.join(', ')}, got ${values.only}\n`)
  process.exit(2)
}
const runs = (phase: string) => values.only === undefined || values.only === phase
const targets: Record<string, string> = {
  firstSyncSeconds: '≤ 10 at 100,000',
  peakRssMbA: '≤ 400',
  peakRssMbB: '≤ 400',
  editLatencyP50Ms: '≤ 20',
  sqlEditLatencyP50Ms: '≤ 50',
  sqlEditLatencyP99Ms: '≤ 250',
  overlapDuplicatesA: '= 0',
  overlapDuplicatesB: '= 0',
}
const results = []
for (const count of counts) {
  const result = {
    ...(runs('store') ? await runSyncBench(count) : {}),
    ...(runs('sql')
      ? await runSqlSyncBench(count, { edits, pollMs, bulkEdit: !values['no-bulk'] })
      : {}),
    ...(runs('overlap') ? await runOverlapSyncBench(count, { pollMs }) : {}),
  }
  // Every person once on each side: A keeps its N, B has its half and the rest.
  const targetsOfCount: Record<string, string> = {
    ...targets,
    overlapPersonsAtA: `= ${count}`,
    overlapPersonsAtB: `= ${count}`,
  }
  results.push(result)
  process.stdout.write(
    `first sync, ${count} persons, ${cpus().length} cores, Node ${process.version}\n`,
  )
  for (const [name, value] of Object.entries(result)) {
    process.stdout.write(
      `  ${name.padEnd(24)} ${String(value).padStart(12)}  ${targetsOfCount[name] ?? ''}`.trimEnd() +
        '\n',
    )
  }
}
writeResults('sync', results.length === 1 ? results[0] : results)
