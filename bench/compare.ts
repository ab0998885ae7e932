// npm run bench:compare [-- --count N] [--timeout-minutes M] [--edits N] [--concurrency N]
//   [--only automerge-repo|pouchdb]: the first sync of the same N generated persons (default
// 10,000) by automerge-repo and by PouchDB, each between two processes on loopback, side by
// side. A system that fails or runs out of time is reported with its error, not thrown.
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { runAutomergeRepoBench } from './compare/automerge-repo.ts'
import { runPouchDbBench } from './compare/pouchdb.ts'
import { writeResults } from './results.ts'
import { positiveArg } from './args.ts'

const SYSTEMS = ['automerge-repo', 'pouchdb'] as const

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '10000' },
    'timeout-minutes': { type: 'string', default: '10' },
    edits: { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '64' },
    only: { type: 'string' },
  },
})
const count = positiveArg('count', values.count)
const timeoutMs = positiveArg('timeout-minutes', values['timeout-minutes']) * 60_000
const edits = positiveArg('edits', values.edits, 0)
const concurrency = positiveArg('concurrency', values.concurrency)
const only = values.only
if (only !== undefined && !(SYSTEMS as readonly string[]).includes(only)) {
  process.stderr.write(`--only: expected ${SYSTEMS.join(' or ')}, got ${only}\n`)
  process.exit(2)
}

const results: object[] = []
if (only !== 'pouchdb') {
  results.push(await runAutomergeRepoBench(count, { edits, concurrency, timeoutMs }))
}
if (only !== 'automerge-repo') results.push(await runPouchDbBench(count, { timeoutMs }))

process.stdout.write(
  `first sync, ${count} persons, ${cpus().length} cores, Node ${process.version}\n`,
)
printTable(results)
writeResults('compare', results)

/** One row per figure, one column per system; '–' where a system has no such figure. */
function printTable(results: object[]): void {
  const columns = results.map((result) => new Map(Object.entries(result)))
  const names = [...new Set(columns.flatMap((column) => [...column.keys()]))].filter(
    (name) => name !== 'system' && name !== 'error',
  )
  const cell = (column: Map<string, unknown>, name: string) =>
    column.has(name) ? String(column.get(name)) : '–'
  const width = Math.max(14, ...columns.map((column) => cell(column, 'system').length)) + 2
  const line = (label: string, cells: string[]) =>
    process.stdout.write(`  ${label.padEnd(20)}${cells.map((c) => c.padStart(width)).join('')}\n`)
  for (const name of ['system', ...names]) {
    line(
      name === 'system' ? '' : name,
      columns.map((column) => cell(column, name)),
    )
  }
  // Error texts are long: below the table, in full.
  for (const column of columns) {
    if (column.has('error')) {
      process.stdout.write(`${cell(column, 'system')}: ${cell(column, 'error')}\n`)
    }
  }
}
