// The commands that make and run an instance on this machine: init and start (the daemon
// in the foreground).
import type { Command } from 'commander'
import { holdMemory } from '../memory.ts'
import { collectMultiaddr, commandName, dirOption, parsePort, print } from './options.ts'

export function addInstanceCommands(root: Command): void {
  root
    .command('init')
    .description(
      'makes the data folder an instance: identity key, API token, config, and the local system (the embedded SQLite file, tables in PostgreSQL, or a folder of vCard files)',
    )
    .addOption(dirOption())
    .option('--name <name>', 'the instance name peers see')
    .option('--port <port>', 'the TCP port peers connect to (default 7400)', parsePort)
    .option(
      '--listen <multiaddr>',
      'an address to listen on for peers, instead of all interfaces on --port (repeatable), e.g. /ip4/192.168.1.20/tcp/7400',
      collectMultiaddr,
    )
    .option('--api-port <port>', 'the loopback port of the HTTP API (default 7420)', parsePort)
    .option('--force', 'write a new config and API token over an existing instance')
    .option(
      '--local <kind>',
      'the local system: sqlite (default, local.db), postgres, or folder (vCard or Google Contacts CSV files)',
    )
    .option(
      '--local-url <url>',
      'with --local postgres: postgres://USER@HOST:PORT/DATABASE, no password (default $OBJECTSYNC_LOCAL_URL; the password from PGPASSWORD or ~/.pgpass)',
    )
    .option(
      '--local-path <dir>',
      'with --local folder: the folder of contact files (relative to --dir, or absolute; made if absent)',
    )
    .option('--format <format>', "with --local folder: the files' format, vcard")
    .option('--json', 'machine-readable output')
    .action(
      async (options: {
        dir: string
        name?: string
        port?: number
        listen?: string[]
        apiPort?: number
        force?: boolean
        local?: 'sqlite' | 'postgres' | 'folder'
        localUrl?: string
        localPath?: string
        format?: string
        json?: boolean
      }) => {
        const { initInstance } = await import('../init.ts')
        const made = await initInstance(options.dir, options)
        print(
          options.json === true,
          { id: made.id, dir: made.dir },
          `instance ${made.id} in ${made.dir}\nStart it with: ${commandName()} start --dir ${made.dir}`,
        )
      },
    )

  root
    .command('start')
    .description('runs the daemon in the foreground until SIGINT or SIGTERM; logs JSON lines')
    .addOption(dirOption())
    .option('--init', 'make the data folder an instance first if it is not one yet')
    .action(startInForeground)
}

/** How often a daemon run by bin/objectsync.js looks whether its parent is still there. */
const PARENT_WATCH_MS = 500

/** `objectsync start`: runs the daemon until SIGINT or SIGTERM, then stops it. */
async function startInForeground(options: { dir: string; init?: boolean }): Promise<void> {
  // Loaded here, not with the CLI: the other commands answer without the daemon's parts.
  const [
    { createLogger },
    { loadConfig },
    { initInstance, isInstance },
    progressModule,
    { runDaemon },
  ] = await Promise.all([
    import('../../src/log.ts'),
    import('../config.ts'),
    import('../init.ts'),
    import('../progress.ts'),
    import('../run.ts'),
  ])
  const { createProgressReporter, reportSyncProgress } = progressModule
  // Why freed memory is not handed back, told once the log exists.
  const noTrim: string[] = []
  let tellNoTrim = (reason: string): void => {
    noTrim.push(reason)
  }
  holdMemory((reason) => tellNoTrim(reason))
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
  tellNoTrim = (reason) =>
    log.info({ reason }, 'freed memory stays with the process (no malloc_trim)')
  for (const reason of noTrim) tellNoTrim(reason)
  // Listening for the signals before starting: one that arrives while the parts start
  // stops them as soon as they have started, rather than killing the process midway.
  const signalled = new Promise<void>((resolve) => {
    // Listening on while it stops: a signal can come twice (a terminal's Ctrl-C reaches
    // bin/objectsync.js, which passes it on, and the daemon; systemd signals both too),
    // and without a listener the second would end the process halfway through stopping.
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) return
      stopping = true
      log.info({ signal }, 'stopping')
      clearInterval(parentWatch)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    // Run by bin/objectsync.js in a child (for MALLOC_ARENA_MAX): a parent killed outright
    // can't pass the signal on, so its going is the signal.
    const parent = Number(process.env.OBJECTSYNC_PARENT_PID)
    const parentWatch =
      parent > 0
        ? setInterval(() => {
            if (process.ppid !== parent) stop('parent gone')
          }, PARENT_WATCH_MS).unref()
        : undefined
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
  // Everything is closed; libp2p still holds a debounce timer of a second (its address
  // manager's, set as its listeners close), which would keep the process a second longer.
  setTimeout(() => process.exit(), 50).unref()
}
