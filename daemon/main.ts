// The composition root: the only place that reads argv, env and config, and chooses
// concrete implementations. The polyfill is imported first, before anything that could
// load libp2p.
import '../src/polyfill.ts'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { readFileSync } from 'node:fs'
import { isObjectSyncError } from '../src/errors.ts'
import { createLogger } from '../src/log.ts'
import { loadConfig } from './config.ts'
import { initInstance, isInstance } from './init.ts'
import { runDaemon } from './run.ts'
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
    .command('init')
    .description(
      'makes the data folder an instance: identity key, API token, config, the embedded SQLite local system',
    )
    .addOption(dirOption())
    .option('--name <name>', 'the instance name peers see')
    .option('--port <port>', 'the TCP port peers connect to (default 7400)', parsePort)
    .option('--api-port <port>', 'the loopback port of the HTTP API (default 7420)', parsePort)
    .option('--force', 'write a new config and API token over an existing instance')
    .option('--json', 'machine-readable output')
    .action(
      async (options: {
        dir: string
        name?: string
        port?: number
        apiPort?: number
        force?: boolean
        json?: boolean
      }) => {
        const made = await initInstance(options.dir, options)
        print(
          options.json === true,
          { id: made.id, dir: made.dir },
          `instance ${made.id} in ${made.dir}\nStart it with: objectsync start --dir ${made.dir}`,
        )
      },
    )

  root
    .command('start')
    .description('runs the daemon in the foreground until SIGINT or SIGTERM; logs JSON lines')
    .addOption(dirOption())
    .option('--init', 'make the data folder an instance first if it is not one yet')
    .action(async (options: { dir: string; init?: boolean }) => {
      if (options.init === true && !(await isInstance(options.dir))) {
        await initInstance(options.dir)
      }
      const config = await loadConfig(options.dir)
      const log = createLogger()
      // Listening for the signals before starting: one that arrives while the parts start
      // stops them as soon as they have started, rather than killing the process midway.
      const signalled = new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal }, 'stopping')
          process.off('SIGINT', stop)
          process.off('SIGTERM', stop)
          resolve()
        }
        process.on('SIGINT', stop)
        process.on('SIGTERM', stop)
      })
      const daemon = await runDaemon(options.dir, config, log)
      await signalled
      await daemon.stop()
      log.info('stopped')
    })

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

function parsePort(value: string): number {
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError('expected a port from 0 (any free one) to 65535')
  }
  return port
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
