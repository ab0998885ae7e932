// A throwaway PostgreSQL server for the tests: Debian's `postgresql` binaries (initdb,
// pg_ctl), a cluster in a temporary folder on a free port with its socket beside it, one
// database per test, removed at the end. initdb refuses to run as root, so as root the
// cluster belongs to the `postgres` user (made by the package) and its programs run as it.
// No mocks: the connector talks to a real server over TCP.
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'

const SUPERUSER = 'postgres'

/** The folder of Debian's PostgreSQL programs (the newest version installed). */
function binaries(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(b) - Number(a))
  for (const version of versions) {
    const bin = join(root, version, 'bin')
    if (existsSync(join(bin, 'initdb'))) return bin
  }
  return undefined
}

/** Whether a server can be made here; tests say why they can't, rather than pass. */
export function postgresAvailable(): string | undefined {
  return binaries() === undefined
    ? 'PostgreSQL is not installed (Debian package postgresql; .ci/run installs it)'
    : undefined
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      )
    })
  })
}

export interface TestPostgres {
  port: number
  /** A new, empty database; its URL. */
  createDatabase(): Promise<string>
  /** Stops the server (fast shutdown) and starts it again on the same port. */
  restart(): Promise<void>
  stop(): Promise<void>
  /** Stops the server without removing it (a server that went away). */
  halt(): void
  /** Starts it again after halt. */
  resume(): void
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = binaries()
  if (bin === undefined) throw new Error(postgresAvailable())
  const asRoot = process.getuid?.() === 0
  const folder = mkdtempSync(join(tmpdir(), 'objectsync-pg-'))
  const data = join(folder, 'data')
  const sockets = folder
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', SUPERUSER]).toString().trim())
    const gid = Number(execFileSync('id', ['-g', SUPERUSER]).toString().trim())
    chownSync(folder, uid, gid)
  }
  chmodSync(folder, 0o700)
  const run = (program: string, args: string[]) => {
    const command = join(bin, program)
    const [file, argv] = asRoot
      ? ['runuser', ['-u', SUPERUSER, '--', command, ...args]]
      : [command, args]
    return execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: folder })
  }
  run('initdb', [
    '-D',
    data,
    '-U',
    SUPERUSER,
    '--auth=trust',
    '--no-sync',
    '--encoding=UTF8',
    '--locale=C',
  ])
  const port = await freePort()
  const start = () =>
    run('pg_ctl', [
      '-D',
      data,
      '-w',
      '-l',
      join(folder, 'server.log'),
      '-o',
      `-p ${port} -k ${sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
      'start',
    ])
  const halt = () => run('pg_ctl', ['-D', data, '-w', '-m', 'fast', 'stop'])
  start()
  let databases = 0
  const admin = `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`
  return {
    port,
    async createDatabase() {
      const name = `test_${process.pid}_${++databases}`
      const client = new pg.Client({ connectionString: admin })
      await client.connect()
      try {
        await client.query(`CREATE DATABASE ${name}`)
      } finally {
        await client.end()
      }
      return `postgres://${SUPERUSER}@127.0.0.1:${port}/${name}`
    },
    restart() {
      halt()
      start()
      return Promise.resolve()
    },
    halt,
    resume: start,
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-w', '-m', 'immediate', 'stop'])
      } finally {
        rmSync(folder, { recursive: true, force: true })
      }
      return Promise.resolve()
    },
  }
}
