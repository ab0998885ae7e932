// The composition root: the only place that reads argv, env and config, and chooses
// concrete implementations. The polyfill is imported first, before anything that could
// load libp2p.
import '../src/polyfill.ts'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

const packageJson = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string }

const USAGE = `usage: objectsync [--version] [--help]

objectsync keeps people, organizations, transactions and files in sync between
independent instances, with no central server. The daemon commands (init, start,
invite, pair, peers, unpair, status, demo) are being built; see the README.
`

function main(argv: string[]): number {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { version: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    })
  } catch (error) {
    process.stderr.write(`objectsync: ${(error as Error).message}\n${USAGE}`)
    return 2
  }
  if (parsed.values.version) {
    process.stdout.write(`${packageJson.version}\n`)
    return 0
  }
  if (parsed.values.help || parsed.positionals.length === 0) {
    process.stdout.write(USAGE)
    return 0
  }
  process.stderr.write(
    `objectsync: unknown command ${JSON.stringify(parsed.positionals[0])}\n${USAGE}`,
  )
  return 2
}

process.exitCode = main(process.argv.slice(2))
