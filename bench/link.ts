// npm run bench:link [-- --megabytes N]: sealed against unsealed frame throughput over
// loopback libp2p, written as JSON under bench/results/ too.
import '../src/polyfill.ts'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { writeResults } from './results.ts'
import { runLinkBench } from './link-bench.ts'

const { values } = parseArgs({ options: { megabytes: { type: 'string', default: '200' } } })
const megabytes = Number(values.megabytes)
if (!Number.isFinite(megabytes) || megabytes <= 0) {
  process.stderr.write(`--megabytes: expected a positive number, got ${values.megabytes}\n`)
  process.exit(2)
}

const results = await runLinkBench(megabytes * 1e6, [1024, 64 * 1024, 1024 * 1024])
process.stdout.write(
  `peer link over loopback libp2p, ${megabytes} MB per size, ${cpus().length} cores, Node ${process.version}\n`,
)
process.stdout.write(
  '  frame      frames   unsealed MB/s  frames/s   sealed MB/s  frames/s   sealed/unsealed\n',
)
for (const r of results) {
  process.stdout.write(
    `  ${String(r.frameBytes).padStart(8)} ${String(r.frames).padStart(8)} ${String(r.unsealedMBps).padStart(15)} ${String(r.unsealedFramesPerSecond).padStart(9)} ${String(r.sealedMBps).padStart(13)} ${String(r.sealedFramesPerSecond).padStart(9)} ${String(r.sealedToUnsealed).padStart(17)}\n`,
  )
}
writeResults('link', results)
