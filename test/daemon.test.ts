// The daemon: `init` and `start` through the real executable, config errors, and two
// whole instances (store, SQLite local system, libp2p, sync engine) composed as `start`
// composes them.
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it, onTestFinished } from 'vitest'
import { parseConfig } from '../daemon/config.ts'
import { isAlive } from '../daemon/ports.ts'
import { initInstance } from '../daemon/init.ts'
import { startInstance, type Instance } from '../daemon/instance.ts'
import { generatePairKey } from '../src/crypto/index.ts'
import { silentLogger } from '../src/log.ts'
import { tempDir } from './helpers/stores.ts'
import { eventually } from './helpers/sync-nodes.ts'

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['bin/objectsync.js', ...args], { encoding: 'utf8' })
}

/** The CLI with `input` on its standard input. */
function cliWithInput(input: string, ...args: string[]) {
  return spawnSync(process.execPath, ['bin/objectsync.js', ...args], { encoding: 'utf8', input })
}

const mode = (path: string) => statSync(path).mode & 0o777

// Each spawned command starts tsx (≈ 1 s, several on a busy machine): generous time-outs.
describe('objectsync init', { timeout: 60_000 }, () => {
  it('makes an instance with private keys and token, and refuses to make it twice', () => {
    const dir = tempDir('init')
    const made = cli('init', '--dir', dir, '--name', 'Acme Office', '--port', '7401', '--json')
    expect(made.status).toBe(0)
    const { id } = JSON.parse(made.stdout) as { id: string }
    expect(id).toMatch(/^12D3KooW/)
    expect(mode(join(dir, 'api-token'))).toBe(0o600)
    expect(mode(join(dir, 'keys/identity.key'))).toBe(0o600)
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as unknown
    expect(parseConfig(config)).toMatchObject({
      name: 'Acme Office',
      listen: ['/ip4/0.0.0.0/tcp/7401'],
      api: { port: 7420 },
      housekeepingMs: 86_400_000,
    })
    expect(JSON.parse(readFileSync(join(dir, 'peers.json'), 'utf8'))).toEqual({ peers: [] })
    const tables = new Database(join(dir, 'local.db'), { readonly: true })
    expect(
      tables
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'persons'")
        .get(),
    ).toEqual({ name: 'persons' })
    tables.close()

    const token = readFileSync(join(dir, 'api-token'), 'utf8')
    const again = cli('init', '--dir', dir, '--name', 'Other')
    expect(again.status).toBe(1)
    expect(again.stderr).toContain('already holds an instance')
    expect(readFileSync(join(dir, 'api-token'), 'utf8')).toBe(token)
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual(config)

    // The folder and token made readable by others since: --force makes them private again.
    chmodSync(dir, 0o755)
    chmodSync(join(dir, 'api-token'), 0o644)
    const forced = cli('init', '--dir', dir, '--name', 'Other', '--force', '--json')
    expect(forced.status).toBe(0)
    expect((JSON.parse(forced.stdout) as { id: string }).id).toBe(id) // the identity stays
    expect(readFileSync(join(dir, 'api-token'), 'utf8')).not.toBe(token)
    expect(mode(dir)).toBe(0o700)
    expect(mode(join(dir, 'api-token'))).toBe(0o600)
    expect(cli('init', '--dir', dir, '--port', 'x').status).toBe(2)
  })
})

/**
 * `objectsync init` on any free ports (the defaults may be taken on the machine running
 * the tests), then `objectsync start` as a child process, once its API listens.
 */
async function startDaemon(name: string) {
  const dir = tempDir(`cli-${name}`)
  expect(cli('init', '--dir', dir, '--name', name, '--port', '0', '--api-port', '0').status).toBe(0)
  const child = spawn(process.execPath, ['bin/objectsync.js', 'start', '--dir', dir])
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  let exitedAt: number | undefined
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      exitedAt = Date.now()
      resolve(code)
    }),
  )
  onTestFinished(() => {
    child.kill('SIGKILL')
  })
  await eventually(() => output.includes('API listening'), 15_000)
  return { dir, child, exited, output: () => output, exitedAt: () => exitedAt }
}

describe('objectsync start', { timeout: 60_000 }, () => {
  it('stops on a bad config with exit code 2, naming the file, the field and what was expected', () => {
    const dir = tempDir('badconfig')
    expect(cli('init', '--dir', dir).status).toBe(0)
    const file = join(dir, 'config.json')
    const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
    const cases: [unknown, string][] = [
      [{ ...config, api: { port: 'x' } }, 'config.json: api.port: expected a port number'],
      [{ ...config, colour: 'blue' }, 'config.json: (the file): unknown setting "colour"'],
      [
        {
          ...config,
          local: { entities: { person: { table: 'P', key: 'id', fields: { shoe: 'S' } } } },
        },
        'config.json: local.entities.person.fields.shoe: person has no field shoe',
      ],
      [{ ...config, housekeeping: 'daily' }, 'config.json: housekeeping: expected a duration'],
      [{ ...config, listen: ['localhost:7400'] }, 'config.json: listen.0: expected a multiaddr'],
      [
        { ...config, files: { maxBytes: 1000, receivingBytesPerPeer: 999 } },
        'config.json: files.receivingBytesPerPeer: expected receivingBytesPerPeer of at least maxBytes',
      ],
    ]
    for (const [bad, expected] of cases) {
      writeFileSync(file, JSON.stringify(bad))
      const result = cli('start', '--dir', dir)
      expect(result.status).toBe(2)
      expect(result.stderr).toContain(expected)
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(bad) // left as it was
    }
    writeFileSync(file, '{ "name": ')
    expect(cli('start', '--dir', dir).stderr).toContain('config.json: not JSON')
    writeFileSync(file, JSON.stringify(config))
    writeFileSync(
      join(dir, 'peers.json'),
      JSON.stringify({
        peers: [
          {
            id: '12D3KooWExamplePeerIdOfThePartnerInstance000000000000',
            name: 'Partner',
            addresses: [],
            key: 'keys/p.key',
            actions: { person: { delete: 'purge' } },
          },
        ],
      }),
    )
    expect(cli('keygen', 'keys/p.key', '--dir', dir).status).toBe(0)
    const peers = cli('start', '--dir', dir)
    expect(peers.status).toBe(2)
    expect(peers.stderr).toContain('peers.json: peers[0].actions.person.delete: expected one of')
  })

  it('runs until SIGTERM, then stops cleanly with exit code 0', async () => {
    const { dir, child, exited, output, exitedAt } = await startDaemon('Start')
    // The daemon runs in a child of the command, with two malloc arenas (bin/objectsync.js).
    const daemonPid = Number(/"pid":(\d+)/.exec(output())?.[1])
    expect(daemonPid).not.toBe(child.pid)
    expect(readFileSync(`/proc/${daemonPid}/environ`, 'utf8').split('\0')).toContain(
      'MALLOC_ARENA_MAX=2',
    )
    // A second daemon for the same folder is told one runs, not that its ports are taken.
    const second = cli('start', '--dir', dir)
    expect(second.status).toBe(1)
    expect(second.stderr).toContain(`is already running (pid ${daemonPid})`)
    // The signal reaches both the command and the daemon (a terminal's Ctrl-C, systemd):
    // the daemon, told twice, still stops cleanly.
    child.kill('SIGTERM')
    process.kill(daemonPid, 'SIGTERM')
    expect(await exited).toBe(0)
    // Out as soon as everything is closed (libp2p's last timer held it a second more).
    const stoppedAt = Number(/"time":(\d+)[^\n]*"msg":"stopped"/.exec(output())?.[1])
    expect(exitedAt()! - stoppedAt).toBeLessThan(900)
  }, 30_000)

  it('stops when the command running it is killed outright', async () => {
    const { child, output } = await startDaemon('Orphan')
    const daemonPid = Number(/"pid":(\d+)/.exec(output())?.[1])
    child.kill('SIGKILL')
    await eventually(() => !isAlive(daemonPid), 10_000)
    expect(output()).toContain('"signal":"parent gone","msg":"stopping"')
    const lines = output()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string })
    expect(lines.map((line) => line.msg)).toEqual(
      expect.arrayContaining(['instance started', 'API listening', 'stopping', 'stopped']),
    )
  }, 30_000)
})

describe('two instances as start composes them', () => {
  it('a row written with SQL at one reaches the other over libp2p, both ways', async () => {
    const start = async (name: string): Promise<[Instance, Database.Database]> => {
      const dir = tempDir(`daemon-${name}`)
      await initInstance(dir, { name })
      const config = parseConfig({ name, listen: ['/ip4/127.0.0.1/tcp/0'] })
      const instance = await startInstance(dir, config, silentLogger)
      const sql = new Database(join(dir, 'local.db'))
      sql.pragma('busy_timeout = 5000')
      onTestFinished(async () => {
        sql.close()
        await instance.stop()
      })
      return [instance, sql]
    }
    const [a, aSql] = await start('a')
    const [b, bSql] = await start('b')
    const key = generatePairKey()
    await a.registry.add(
      { id: b.id, name: 'b', addresses: b.transport.addresses() },
      { current: key },
    )
    await b.registry.add(
      { id: a.id, name: 'a', addresses: a.transport.addresses() },
      { current: key },
    )
    aSql
      .prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('a1', 'Anna', 'Berg')")
      .run()
    b.engine.connect(a.id)
    const bRows = () => bSql.prepare('SELECT first_name, email FROM persons').all()
    await eventually(() => bRows().length === 1, 10_000)
    expect(bRows()).toEqual([{ first_name: 'Anna', email: null }])
    const [row] = bSql.prepare('SELECT id FROM persons').all() as { id: string }[]
    bSql.prepare("UPDATE persons SET email = 'anna@b.example' WHERE id = ?").run(row!.id)
    await eventually(
      () =>
        (
          aSql.prepare("SELECT email FROM persons WHERE id = 'a1'").get() as {
            email: string | null
          }
        ).email === 'anna@b.example',
      10_000,
    )
  }, 30_000)
})

describe('the CLI against running daemons', { timeout: 90_000 }, () => {
  it('pairs two instances by invite, shows them in sync, and unpairs them', async () => {
    const [a, b] = await Promise.all([startDaemon('Alpha'), startDaemon('Beta')])
    const json = (result: ReturnType<typeof cli>) => {
      expect(result.stderr).toBe('')
      expect(result.status).toBe(0)
      return JSON.parse(result.stdout) as Record<string, unknown>
    }
    const { token } = json(cli('invite', '--dir', a.dir, '--expires', '10m', '--json')) as {
      token: string
    }
    expect(token).toMatch(/^os1\./)
    // The token from standard input: on the command line, other local users could see it.
    const paired = json(
      cliWithInput(`${token}\n`, 'pair', '--dir', b.dir, '--name', 'Alpha office', '--json'),
    ) as {
      name: string
      id: string
    }
    // Called here what --name said; the peer still calls itself Alpha.
    expect(paired.name).toBe('Alpha office')
    const peersFile = JSON.parse(readFileSync(join(b.dir, 'peers.json'), 'utf8')) as {
      peers: { name: string }[]
    }
    expect(peersFile.peers.map((peer) => peer.name)).toEqual(['Alpha office'])
    // A used invite does not pair again (here from a file); no token at all is bad usage.
    const tokenFile = join(b.dir, 'invite.txt')
    writeFileSync(tokenFile, `${token}\n`)
    const reused = cli('pair', '--token-file', tokenFile, '--dir', b.dir)
    expect(reused.status).toBe(1)
    expect(reused.stderr).toContain('INVITE_REFUSED')
    const none = cliWithInput('', 'pair', '--dir', b.dir)
    expect(none.status).toBe(2)
    expect(none.stderr).toMatch(/no invite token given/)

    const aSql = new Database(join(a.dir, 'local.db'))
    const bSql = new Database(join(b.dir, 'local.db'), { readonly: true })
    onTestFinished(() => {
      aSql.close()
      bSql.close()
    })
    aSql
      .prepare("INSERT INTO persons(id, first_name, last_name) VALUES ('a1', 'Anna', 'Berg')")
      .run()
    await eventually(() => bSql.prepare('SELECT 1 FROM persons').get() !== undefined, 10_000)
    const status = json(cli('status', '--dir', b.dir, '--json')) as {
      objects: { person: number }
      peers: { name: string; connected: boolean }[]
    }
    expect(status.objects.person).toBe(1)
    expect(status.peers).toMatchObject([{ name: 'Alpha office', connected: true }])
    expect(cli('peers', '--dir', a.dir).stdout).toContain('Beta')
    // The text form links the status page; the token only when asked for, after # only.
    const apiToken = readFileSync(join(b.dir, 'api-token'), 'utf8').trim()
    const statusText = cli('status', '--dir', b.dir).stdout
    expect(statusText).toMatch(/^status page: http:\/\/127\.0\.0\.1:\d+\/ \(it asks/m)
    expect(statusText).not.toContain(apiToken)
    expect(statusText).toMatch(/^local system: SQLite .*local\.db, answering, up to date$/m)
    expect(cli('status', '--dir', b.dir, '--with-token').stdout).toMatch(
      new RegExp(`status page: http://127\\.0\\.0\\.1:\\d+/#token=${apiToken}$`, 'm'),
    )
    expect(cli('plan', '--dir', a.dir).status).toBe(0)

    // By its name (case and spacing aside), as `objectsync peers` shows it.
    expect(cli('unpair', 'alpha  OFFICE', '--dir', b.dir).status).toBe(0)
    expect(json(cli('peers', '--dir', b.dir, '--json'))).toEqual({ peers: [] })
    const again = cli('unpair', paired.id, '--dir', b.dir)
    expect(again.status).toBe(1)
    expect(again.stderr).toContain('PEER_NOT_FOUND')

    a.child.kill('SIGTERM')
    b.child.kill('SIGTERM')
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0])
    // With the daemon gone, commands say so.
    const gone = cli('status', '--dir', a.dir)
    expect(gone.status).toBe(1)
    expect(gone.stderr).toContain('no daemon is running')
  }, 90_000)
})

describe('npm start', () => {
  it(
    'stops the daemon when npm is sent SIGTERM, leaving nothing running',
    { timeout: 60_000 },
    async () => {
      const dir = tempDir('npm-start')
      expect(cli('init', '--dir', dir, '--port', '0', '--api-port', '0').status).toBe(0)
      const npm = spawn('npm', ['start', '--silent'], {
        env: { ...process.env, OBJECTSYNC_DIR: dir },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let output = ''
      npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
      onTestFinished(() => void npm.kill('SIGKILL'))
      await eventually(() => output.includes('API listening'), 30_000)
      const pid = Number(/"pid":(\d+)/.exec(output)?.[1])
      expect(pid).toBeGreaterThan(0)
      // Left running is the failure: not left behind by the test as well.
      onTestFinished(() => {
        if (isAlive(pid)) process.kill(pid, 'SIGKILL')
      })
      npm.kill('SIGTERM')
      await eventually(() => !isAlive(pid), 10_000)
      expect(output).toContain('"msg":"stopped"')
    },
  )
})
