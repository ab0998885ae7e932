// The composition root: the only place that reads argv, env and config, and chooses
// concrete implementations. The polyfill is imported first, before anything that could
// load libp2p. The commands themselves are in cli/; this entry runs them and turns
// their errors into exit codes.
import '../src/polyfill.ts'
import { CommanderError } from 'commander'
import { isObjectSyncError } from '../src/errors.ts'
import { CliError } from './client.ts'
import { program } from './cli/program.ts'

// Exit codes of INTERFACE.md: 0 ok, 1 failure, 2 bad usage or bad config.
const EXIT_FAILURE = 1
const EXIT_USAGE = 2

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' })
    return 0
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? 0 : EXIT_USAGE
    }
    if (error instanceof CliError) {
      process.stderr.write(`objectsync: ${error.message}\n`)
      return EXIT_FAILURE
    }
    if (
      isObjectSyncError(error, 'INVALID_CONFIG') ||
      isObjectSyncError(error, 'INVALID_PEERS_FILE')
    ) {
      process.stderr.write(`objectsync: ${error.message}\n`)
      return EXIT_USAGE
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
