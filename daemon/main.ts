// The composition root: the only place that reads argv, env and config, and chooses
// concrete implementations. The polyfill is imported first, before anything that could
// load libp2p.
import '../src/polyfill.ts'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { readFileSync } from 'node:fs'
import { isObjectSyncError } from '../src/errors.ts'
import { createLogger } from '../src/log.ts'
import { loadConfig } from './config.ts'
import { runDemo } from './demo.ts'
import { initInstance, isInstance } from './init.ts'
import { createProgressReporter, reportSyncProgress } from './progress.ts'
import { runDaemon } from './run.ts'
import { CliError, callDaemon, findDaemon, statusPageUrl } from './client.ts'
import {
  describePeer,
  describePlan,
  describeStatus,
  type PeerJson,
  type PlanJson,
  type StatusJson,
} from './describe.ts'
import { keygen } from './keygen.ts'

const packageJson = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as {
  version: string
}

// Exit codes of INTERFACE.md: 0 ok, 1 failure, 2 bad usage or bad config.
const EXIT_FAILURE = 1
const EXIT_USAGE = 2

function print(json: boolean, value: object, text: string): void {
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
      // Bars when stderr is a terminal, plain lines when it is a file or the journal. Log
      // lines for the same terminal are printed above the bars rather than through them.
      const progress = createProgressReporter(process.stderr)
      const log = createLogger(
        process.stdout.isTTY && process.stderr.isTTY
          ? { destination: { write: (line: string) => progress.log(line) } }
          : {},
      )
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
      try {
        const daemon = await runDaemon(options.dir, config, log, {
          onIngestProgress: (table, rows, done) => progress.ingest(table, rows, done),
        })
        const stopReporting = reportSyncProgress(daemon.instance, progress)
        await signalled
        stopReporting()
        await daemon.stop()
      } finally {
        // Its redraw timer would keep a failed start from exiting.
        progress.stop()
      }
      log.info('stopped')
    })

  const jsonOption = () => new Option('--json', 'machine-readable output')

  root
    .command('status')
    .description('instance id, object counts, peers, conflicts and matches waiting for review')
    .addOption(dirOption())
    .option(
      '--with-token',
      "the status page's link with the API token in it (keep such output out of logs)",
    )
    .addOption(jsonOption())
    .action(async (options: { dir: string; json?: boolean; withToken?: boolean }) => {
      const status = (await callDaemon(options.dir, 'GET', '/v1/status')) as StatusJson
      const page = statusPageUrl(await findDaemon(options.dir), options.withToken === true)
      const open =
        options.withToken === true ? page : `${page} (it asks for the token in DIR/api-token)`
      print(options.json === true, status, `${describeStatus(status)}\nstatus page: ${open}`)
    })

  root
    .command('peers')
    .description('the paired peers, with connection and sync state')
    .addOption(dirOption())
    .addOption(jsonOption())
    .action(async (options: { dir: string; json?: boolean }) => {
      const { peers } = (await callDaemon(options.dir, 'GET', '/v1/peers')) as {
        peers: PeerJson[]
      }
      const text =
        peers.length === 0
          ? 'no peers yet (objectsync invite / pair)'
          : peers.map(describePeer).join('\n')
      print(options.json === true, { peers }, text)
    })

  root
    .command('invite')
    .description('prints a one-time pairing token; treat it as a secret')
    .addOption(dirOption())
    .option('--expires <duration>', 'how long the token is valid, e.g. 30m or 2h', '1h')
    .addOption(jsonOption())
    .action(async (options: { dir: string; expires: string; json?: boolean }) => {
      const invite = (await callDaemon(options.dir, 'POST', '/v1/invites', {
        expires: options.expires,
      })) as { token: string; expiresAt: string }
      print(
        options.json === true,
        invite,
        `${invite.token}\n\nValid once, until ${invite.expiresAt}. Pass it over a channel you trust; the other administrator runs: objectsync pair <token>`,
      )
    })

  root
    .command('pair')
    .description('pairs with the instance that made the invite token')
    .argument('<token>', 'the token from objectsync invite on the other instance')
    .addOption(dirOption())
    .option('--name <name>', 'what to call the peer here (default: the name it gives)')
    .addOption(jsonOption())
    .action(async (token: string, options: { dir: string; name?: string; json?: boolean }) => {
      const peer = (await callDaemon(options.dir, 'POST', '/v1/pair', {
        token,
        ...(options.name === undefined ? {} : { name: options.name }),
      })) as {
        id: string
        name: string
      }
      print(options.json === true, peer, `paired with ${peer.name} (${peer.id})`)
    })

  root
    .command('unpair')
    .description('removes a peer and its key, and closes its connections')
    .argument('<peer>', 'the peer id (objectsync peers lists them)')
    .addOption(dirOption())
    .addOption(jsonOption())
    .action(async (peer: string, options: { dir: string; json?: boolean }) => {
      await callDaemon(options.dir, 'DELETE', `/v1/peers/${encodeURIComponent(peer)}`)
      print(options.json === true, { unpaired: peer }, `unpaired ${peer}`)
    })

  root
    .command('plan')
    .description('what the next run would do, per peer, without writing anything')
    .addOption(dirOption())
    .addOption(jsonOption())
    .action(async (options: { dir: string; json?: boolean }) => {
      const plan = (await callDaemon(options.dir, 'GET', '/v1/plan')) as PlanJson
      print(options.json === true, plan, describePlan(plan))
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

  root
    .command('demo')
    .description(
      'three instances in a temporary folder pair, edit one person while disconnected, merge, and show it; removes what it made',
    )
    .option('--verbose', "also write the instances' logs (JSON lines) to stderr")
    .action(async (options: { verbose?: boolean }) => {
      // Ctrl-C ends the demo at the next step or wait, after it has cleaned up.
      const interrupted = new AbortController()
      const interrupt = () => interrupted.abort(new Error('interrupted'))
      process.once('SIGINT', interrupt)
      process.once('SIGTERM', interrupt)
      try {
        await runDemo({
          say: (line) => process.stdout.write(`${line}\n`),
          signal: interrupted.signal,
          ...(options.verbose === true
            ? { logger: createLogger({ destination: process.stderr }) }
            : {}),
        })
      } finally {
        process.off('SIGINT', interrupt)
        process.off('SIGTERM', interrupt)
      }
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
