// npm run bench:store [-- --count N]: prints the object store's figures and writes them
// as JSON under bench/results/.
import '../src/polyfill.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { writeResults } from './results.ts'
import { runStoreBench } from './store-bench.ts'

const { values } = parseArgs({ options: { count: { type: 'string', default: '100000' } } })
const count = Number(values.count)
if (!Number.isInteger(count) || count < 1) {
  process.stderr.write(`--count: expected a positive integer, got ${values.count}\n`)
  process.exit(2)
}

const dir = mkdtempSync(join(tmpdir(), 'objectsync-bench-store-'))
try {
  const result = await runStoreBench(count, join(dir, 'store'))
  const targets: Record<string, string> = {
    createPerSecond: '≥ 5,000',
    reopenMs: '≤ 2,000 (at 100,000)',
    diskToJsonRatio: '≤ 3',
    historyPageMs: '≤ 1,000 (8,000 changes)',
  }
  const rows = Object.entries(result).map(([name, value]) => ({
    figure: name,
    value,
    target: targets[name] ?? '',
  }))
  process.stdout.write(
    `object store, ${count} persons, ${cpus().length} cores, Node ${process.version}\n`,
  )
  for (const row of rows) {
    process.stdout.write(
      `  ${row.figure.padEnd(24)} ${String(row.value).padStart(12)}  ${row.target}\n`,
    )
  }
  writeResults('store', result)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
