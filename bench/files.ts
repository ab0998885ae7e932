// npm run bench:files [-- --megabytes N]: one file of N MiB (default 100) fetched by a
// second instance over loopback libp2p, against sealed frames of the chunk size in the
// same run; written as JSON under bench/results/ too.
import '../src/polyfill.ts'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { positiveArg } from './args.ts'
import { runFilesBench } from './files-bench.ts'
import { writeResults } from './results.ts'

const { values } = parseArgs({ options: { megabytes: { type: 'string', default: '100' } } })
const megabytes = positiveArg('megabytes', values.megabytes)
const result = await runFilesBench(megabytes)
process.stdout.write(
  `file content over loopback libp2p, ${megabytes} MiB, ${cpus().length} cores, Node ${process.version}\n`,
)
for (const [name, value] of Object.entries(result)) {
  process.stdout.write(`  ${name.padEnd(20)} ${String(value).padStart(10)}\n`)
}
writeResults('files', result)
