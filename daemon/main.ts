// The composition root: the only place that reads argv, env and config, and chooses
// concrete implementations. The polyfill is imported first, before anything that could
// load libp2p.
import '../src/polyfill.ts'
import { Command, CommanderError, Option } from 'commander'
import { readFileSync } from 'node:fs'
import { keygen } from './keygen.ts'

const packageJson = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as {
  version: string
}

// Exit codes of INTERFACE.md: 0 ok, 1 failure, 2 bad usage or bad config.
const EXIT_FAILURE = 1
const EXIT_USAGE = 2

function print(json: boolean, value: Record<string, unknown>, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`)
}

function program(): Command {
  const root = new Command('objectsync')
    .description(
      'Keeps people, organizations, transactions and files in sync between independent instances, with no central server.',
    )
    .version(packageJson.version)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) })
  const dirOption = () =>
    new Option('--dir <dir>', 'the data folder').env('OBJECTSYNC_DIR').default('./data')

  root
    .command('keygen')
    .description(
      'writes a new pair key file for manual pairing (pass it securely to the other administrator)',
    )
    .argument('[file]', 'where to write it, relative to the data folder', 'keys/pair.key')
    .addOption(dirOption())
    .option('--json', 'machine-readable output')
    .action(async (file: string, options: { dir: string; json?: boolean }) => {
      const path = await keygen(options.dir, file)
      print(
        options.json === true,
        { file: path },
        `wrote ${path} (mode 0600)\nPass it securely to the other administrator; both list it as "key" of the other instance in peers.json.`,
      )
    })
  return root
}

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' })
    return 0
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? 0 : EXIT_USAGE
    }
    const code = (error as NodeJS.ErrnoException).code
    const message =
      code === 'EEXIST'
        ? `${(error as Error).message}: refusing to overwrite an existing key file`
        : (error as Error).message
    process.stderr.write(`objectsync: ${message}\n`)
    return EXIT_FAILURE
  }
}

process.exitCode = await main(process.argv.slice(2))
