// npm run bench [-- --count N] [--sql-count N] [--edits N] [--timeout-minutes M]
//   [--mesh-objects N] [--mesh-rounds N]:
// objectsync side by side with the physical floor, automerge-repo and PouchDB, in one run
// on one machine: the first sync of the same 10,000 and 100,000 persons (or N) by each,
// objectsync also rows to rows (SQLite at A to SQLite at B); then the daemon's own figures
// (SQL-to-SQL edit latency, edits replicated across three instances, cold start, bytes on
// disk). One table, and JSON under bench/results/.
import '../src/polyfill.ts'
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { runAutomergeRepoBench } from './compare/automerge-repo.ts'
import { isFailure, type BenchFailure } from './compare/peer-process.ts'
import { runPouchDbBench } from './compare/pouchdb.ts'
import { runColdStartBench, runMeshBench } from './daemons-bench.ts'
import { runFloorBench } from './floor.ts'
import { writeResults } from './results.ts'
import { runSqlSyncBench, runSyncBench } from './sync-bench.ts'
import { positiveArg } from './args.ts'

const { values } = parseArgs({
  options: {
    count: { type: 'string' },
    'sql-count': { type: 'string', default: '10000' },
    edits: { type: 'string', default: '1000' },
    'timeout-minutes': { type: 'string', default: '10' },
    'mesh-objects': { type: 'string', default: '200' },
    'mesh-rounds': { type: 'string', default: '20' },
  },
})
const counts = values.count === undefined ? [10_000, 100_000] : [positiveArg('count', values.count)]
const sqlCount = Math.min(positiveArg('sql-count', values['sql-count']), Math.max(...counts))
const edits = positiveArg('edits', values.edits, 0)
const timeoutMs = positiveArg('timeout-minutes', values['timeout-minutes']) * 60_000
const meshObjects = positiveArg('mesh-objects', values['mesh-objects'])
const meshRounds = positiveArg('mesh-rounds', values['mesh-rounds'])

const say = (line: string) => process.stdout.write(`${line}\n`)
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits

interface FirstSyncRow {
  system: string
  seconds: number | null
  perSecond: number | null
  rssMbA: number | null
  rssMbB: number | null
  note: string
}

const firstSyncs: {
  persons: number
  rows: FirstSyncRow[]
  ratios: Record<string, number | null>
  /** One edit at A until B shows it, after the first sync (ms). */
  editLatency: Record<string, string>
  /** Every figure each system reported. */
  raw: Record<string, object>
}[] = []
for (const count of counts) {
  say(`first sync of ${count} persons …`)
  const floor = await runFloorBench(count)
  const ours = await runSyncBench(count)
  const rowsToRows = await runSqlSyncBench(count, { edits: 0, bulkEdit: false })
  const automerge = await runAutomergeRepoBench(count, { timeoutMs })
  const pouch = await runPouchDbBench(count, { timeoutMs })
  const other = (
    system: string,
    result: { firstSyncSeconds: number; peakRssMbA: number; peakRssMbB: number } | BenchFailure,
  ): FirstSyncRow =>
    isFailure(result)
      ? {
          system,
          seconds: null,
          perSecond: null,
          rssMbA: result.peakRssMbA,
          rssMbB: result.peakRssMbB,
          note: `${result.timedOut ? 'timed out' : 'failed'} after ${result.afterSeconds} s (${result.personsSyncedSoFar} synced): ${result.error.split('\n')[0]!.slice(0, 120)}`,
        }
      : {
          system,
          seconds: result.firstSyncSeconds,
          perSecond: Math.round(count / result.firstSyncSeconds),
          rssMbA: result.peakRssMbA,
          rssMbB: result.peakRssMbB,
          note: '',
        }
  const rows: FirstSyncRow[] = [
    {
      system: 'floor (seal, TCP, LevelDB)',
      seconds: floor.floorSeconds,
      perSecond: Math.round(count / floor.floorSeconds),
      rssMbA: null,
      rssMbB: floor.floorPeakRssMbReceiver,
      note: `${floor.floorMb} MB of JSON`,
    },
    {
      system: 'objectsync',
      seconds: ours.firstSyncSeconds,
      perSecond: ours.facetsPerSecond,
      rssMbA: ours.peakRssMbA,
      rssMbB: ours.peakRssMbB,
      note: `${ours.wireMbAtoB} MB on the wire`,
    },
    {
      system: 'objectsync, SQLite → SQLite',
      seconds: rowsToRows.sqlRowsAtBSeconds,
      perSecond: Math.round(count / rowsToRows.sqlRowsAtBSeconds),
      rssMbA: rowsToRows.sqlPeakRssMbA,
      rssMbB: rowsToRows.sqlPeakRssMbB,
      note: `rows to rows; A's rows taken in first (${rowsToRows.sqlIngestSecondsA} s)`,
    },
    other('automerge-repo', automerge),
    other('PouchDB over HTTP', pouch),
  ]
  const seconds = (system: string) => rows.find((row) => row.system.startsWith(system))?.seconds
  const ratio = (over: string, under: string) => {
    const [top, bottom] = [seconds(over), seconds(under)]
    return top == null || bottom == null ? null : round(top / bottom)
  }
  firstSyncs.push({
    persons: count,
    rows,
    ratios: {
      'objectsync / floor': ratio('objectsync', 'floor'),
      'automerge-repo / objectsync': ratio('automerge-repo', 'objectsync'),
      'PouchDB / objectsync': ratio('PouchDB', 'objectsync'),
    },
    editLatency: {
      objectsync: `${ours.editLatencyP50Ms} / ${ours.editLatencyP99Ms} ms (${ours.editsMeasured} edits)`,
      'automerge-repo': isFailure(automerge)
        ? '–'
        : `${automerge.editLatencyP50Ms} / ${automerge.editLatencyP99Ms} ms (${automerge.editsMeasured} edits)`,
    },
    raw: {
      floor,
      objectsync: ours,
      'objectsync SQLite': rowsToRows,
      'automerge-repo': automerge,
      PouchDB: pouch,
    },
  })
}

say(`SQLite to SQLite on ${sqlCount} persons, ${edits} edits …`)
const sql = await runSqlSyncBench(sqlCount, { edits })
say(`edits across three daemons …`)
const mesh = await runMeshBench(meshObjects, meshRounds)
say(`cold start …`)
const cold = await runColdStartBench(Math.max(...counts))

say('')
say(
  `objectsync side by side — ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`,
)
for (const { persons, rows, ratios, editLatency } of firstSyncs) {
  say('')
  say(`first sync of ${persons} persons (A holds them, B starts empty; separate processes)`)
  say(
    `  ${'system'.padEnd(28)}${'seconds'.padStart(9)}${'persons/s'.padStart(11)}${'RSS A MB'.padStart(10)}${'RSS B MB'.padStart(10)}  note`,
  )
  for (const row of rows) {
    const cell = (value: number | null, width: number) =>
      (value === null ? '–' : String(value)).padStart(width)
    say(
      `  ${row.system.padEnd(28)}${cell(row.seconds, 9)}${cell(row.perSecond, 11)}${cell(row.rssMbA, 10)}${cell(row.rssMbB, 10)}  ${row.note}`.trimEnd(),
    )
  }
  for (const [name, value] of Object.entries(ratios)) {
    say(`  ${name.padEnd(28)}${(value === null ? '–' : `${value}×`).padStart(9)}`)
  }
  for (const [system, value] of Object.entries(editLatency)) {
    say(`  ${`edit p50 / p99, ${system}`.padEnd(38)}${value}`)
  }
}
say('')
say('objectsync daemons')
const figures: [string, string, string][] = [
  [
    `SQL row at A to row at B, p50 / p99 (${sql.sqlEditsMeasured} edits)`,
    `${sql.sqlEditLatencyP50Ms} / ${sql.sqlEditLatencyP99Ms} ms`,
    '≤ 50 / ≤ 250 ms',
  ],
  [
    `SQLite to SQLite first sync, ${sqlCount} rows`,
    `${sql.sqlFirstSyncSeconds} s (rows at B ${sql.sqlRowsAtBSeconds} s)`,
    '',
  ],
  [
    `edits replicated across 3 daemons (${mesh.meshEdits})`,
    `${mesh.replicatedEditsPerSecond} /s`,
    '≥ 2,000 /s',
  ],
  [
    `cold start with ${cold.coldStartPersons} persons`,
    `${cold.coldStartSeconds} s (first start ${cold.firstStartSeconds} s)`,
    '',
  ],
  [
    'bytes on disk per person / as JSON',
    `${cold.diskBytesPerPerson} / ${cold.rawJsonBytesPerPerson}`,
    '',
  ],
  [
    'peak RSS per daemon',
    `first sync ${firstSyncs.map(({ rows }) => `${rows[1]!.rssMbB} (rows ${rows[2]!.rssMbB})`).join(' / ')} MB, cold start ${cold.coldStartPeakRssMb} MB`,
    '≤ 400 MB at 100,000',
  ],
]
for (const [name, value, target] of figures) say(`  ${name.padEnd(52)}${value.padEnd(44)}${target}`)
writeResults('bench', { firstSyncs, sql, mesh, cold })
