// npm run bench:postgres [-- --count N] [--edits N]:
// PostgreSQL as a local system on a throwaway server of this machine: the first sync of
// 10,000 and then 100,000 persons (or N) PostgreSQL → SQLite and SQLite → PostgreSQL,
// and SQL edits at A's database until B's SQLite row shows them.
import '../src/polyfill.ts'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { positiveArg } from './args.ts'
import { runPostgresSyncBench } from './postgres-sync-bench.ts'
import { writeResults } from './results.ts'

const { values } = parseArgs({
  options: {
    count: { type: 'string' },
    edits: { type: 'string', default: '1000' },
  },
})
const counts = values.count === undefined ? [10_000, 100_000] : [positiveArg('count', values.count)]
const edits = positiveArg('edits', values.edits, 0)
const targets: Record<string, string> = {
  pgToSqliteEditP50Ms: '≤ 50',
  pgToSqliteEditP99Ms: '≤ 250',
}
const results = []
for (const count of counts) {
  const result = await runPostgresSyncBench(count, { edits })
  results.push(result)
  process.stdout.write(
    `PostgreSQL local system, ${count} persons, ${cpus().length} cores, Node ${process.version}\n`,
  )
  for (const [name, value] of Object.entries(result)) {
    process.stdout.write(
      `  ${name.padEnd(28)} ${String(value).padStart(10)}  ${targets[name] ?? ''}`.trimEnd() + '\n',
    )
  }
}
writeResults('postgres', results.length === 1 ? results[0] : results)
