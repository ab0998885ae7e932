// Two offices behind real NAT routers (Linux network namespaces, nftables masquerade,
// unsolicited inbound dropped) and a relay on the wan side: real daemons (the CLI) pair
// and sync rows of their SQLite databases through the relay, which no direct dial can
// replace; an office that changes its address is reached again; and a capture of every
// packet on the wan holds no plaintext of a record. Needs root (as .ci/run runs); skipped,
// saying why, where namespaces can't be made.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { initInstance } from '../daemon/init.ts'
import {
  NAT_B_PUBLIC,
  RELAY_IP,
  buildOffices,
  inNamespace,
  whyNoNamespaces,
  type Offices,
} from './helpers/netns.ts'
import { tempDir } from './helpers/stores.ts'

const why = whyNoNamespaces()
if (why !== undefined) console.warn(`test/nat.test.ts skipped: ${why}`)

interface Office {
  name: string
  ns: string
  dir: string
  listen: string
  daemon?: ChildProcess
  output: string
}

const children = new Set<ChildProcess>()
let offices: Offices | undefined
afterAll(() => {
  for (const child of children) child.kill('SIGKILL')
  offices?.remove()
})

async function start(office: Office): Promise<void> {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      office.ns,
      process.execPath,
      'bin/objectsync.js',
      'start',
      '--dir',
      office.dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  children.add(child)
  office.daemon = child
  office.output = ''
  const keep = (chunk: Buffer) =>
    (office.output = (office.output + chunk.toString()).slice(-20_000))
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  await vi.waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`${office.name} exited: ${office.output}`)
      expect(office.output).toContain('API listening')
    },
    { timeout: 30_000, interval: 100 },
  )
}

async function stop(office: Office): Promise<void> {
  const child = office.daemon!
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
  children.delete(child)
}

function cli(office: Office, ...args: string[]): string {
  return inNamespace(office.ns, process.execPath, 'bin/objectsync.js', ...args, '--dir', office.dir)
}

interface PeerStatus {
  id: string
  connected: boolean
  connection: { path: string; relay?: { name: string } } | null
  relay: { reserved: boolean } | null
}

function peersOf(office: Office): PeerStatus[] {
  return (JSON.parse(cli(office, 'peers', '--json')) as { peers: PeerStatus[] }).peers
}

function pair(inviter: Office, joiner: Office): string {
  const token = (JSON.parse(cli(inviter, 'invite', '--json')) as { token: string }).token
  const paired = JSON.parse(cli(joiner, 'pair', token, '--json')) as { id: string }
  return paired.id
}

function editJson(file: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  edit(json)
  writeFileSync(file, JSON.stringify(json, null, 2))
}

function relayOnlyPeers(office: Office, markRelay: boolean): void {
  editJson(join(office.dir, 'peers.json'), (json) => {
    for (const peer of json.peers as Record<string, unknown>[]) {
      peer.share = {}
      if (markRelay) peer.relay = true
    }
  })
}

function insertPerson(office: Office, id: string, first: string, last: string): void {
  const db = new Database(join(office.dir, 'local.db'))
  db.pragma('busy_timeout = 5000')
  db.prepare('INSERT INTO persons (id, first_name, last_name) VALUES (?, ?, ?)').run(
    id,
    first,
    last,
  )
  db.close()
}

function lastNames(office: Office): string[] {
  const db = new Database(join(office.dir, 'local.db'), { readonly: true })
  db.pragma('busy_timeout = 5000')
  const rows = db.prepare('SELECT last_name FROM persons ORDER BY last_name').all() as {
    last_name: string
  }[]
  db.close()
  return rows.map((row) => row.last_name)
}

/** Whether a TCP connection from inside `ns` to host:port is taken within 3 s. */
function canConnect(ns: string, host: string, port: number): boolean {
  const script = `const s=require('net').connect(${port},'${host}');s.setTimeout(3000);s.on('connect',()=>{console.log('yes');process.exit(0)});s.on('timeout',()=>{console.log('no');process.exit(0)});s.on('error',()=>{console.log('no');process.exit(0)})`
  return inNamespace(ns, process.execPath, '-e', script).trim() === 'yes'
}

describe.skipIf(why !== undefined)('offices behind NAT routers', () => {
  it(
    'pair and sync through a relay on the wan; a moved office is reached again; the wan sees no record',
    { timeout: 240_000 },
    async () => {
      offices = buildOffices()
      const office = async (name: string, ns: string, listen: string): Promise<Office> => {
        const dir = tempDir(`nat-${name}`)
        await initInstance(dir, { name, listen: [listen], apiPort: 0 })
        return { name, ns, dir, listen, output: '' }
      }
      const relay = await office('relay', offices.wan, `/ip4/${RELAY_IP}/tcp/7400`)
      const north = await office('north', offices.hostA, '/ip4/10.0.1.2/tcp/7400')
      const south = await office('south', offices.hostB, '/ip4/10.0.2.2/tcp/7400')
      editJson(join(relay.dir, 'config.json'), (json) => (json.relay = { serve: true }))

      const pcap = join(tempDir('nat-capture'), 'wan.pcap')
      const capture = spawn(
        'ip',
        ['netns', 'exec', offices.wan, 'tcpdump', '-i', 'br0', '-U', '-n', '-w', pcap, 'tcp'],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      )
      children.add(capture)
      let captureLog = ''
      capture.stderr.on('data', (chunk: Buffer) => (captureLog += chunk.toString()))
      await vi.waitFor(() => expect(captureLog).toContain('listening on br0'), { timeout: 10_000 })

      // Each office pairs with the relay (reachable from both), then marks it as its relay;
      // the relay and the offices share nothing with each other.
      for (const each of [relay, north, south]) await start(each)
      pair(relay, north)
      pair(relay, south)
      for (const each of [relay, north, south]) await stop(each)
      relayOnlyPeers(relay, false)
      relayOnlyPeers(north, true)
      relayOnlyPeers(south, true)
      for (const each of [relay, north, south]) await start(each)
      for (const each of [north, south]) {
        await vi.waitFor(() => expect(peersOf(each)[0]?.relay).toEqual({ reserved: true }), {
          timeout: 30_000,
          interval: 500,
        })
      }

      // No direct way in: not to South's own address, nor to its router's.
      expect(canConnect(offices.hostA, '10.0.2.2', 7400)).toBe(false)
      expect(canConnect(offices.hostA, NAT_B_PUBLIC, 7400)).toBe(false)
      expect(canConnect(offices.hostA, RELAY_IP, 7400)).toBe(true) // the wan is reachable

      // North pairs with South through the relay, and rows sync both ways.
      const southId = pair(south, north)
      insertPerson(north, 'n-1', 'Quetzal', 'Northwick7731')
      insertPerson(south, 's-1', 'Ximena', 'Southby4417')
      await vi.waitFor(() => expect(lastNames(south)).toContain('Northwick7731'), {
        timeout: 60_000,
        interval: 500,
      })
      await vi.waitFor(() => expect(lastNames(north)).toContain('Southby4417'), {
        timeout: 60_000,
        interval: 500,
      })
      expect(peersOf(north).find((peer) => peer.id === southId)?.connection).toEqual({
        path: 'relay',
        relay: { id: expect.any(String) as string, name: 'relay' },
      })

      // South's office gets another address, and South restarts: North reaches it again.
      await stop(south)
      inNamespace(offices.hostB, 'ip', 'addr', 'flush', 'dev', 'lan0')
      inNamespace(offices.hostB, 'ip', 'addr', 'add', '10.0.2.3/24', 'dev', 'lan0')
      inNamespace(offices.hostB, 'ip', 'route', 'add', 'default', 'via', '10.0.2.1')
      south.listen = '/ip4/10.0.2.3/tcp/7400'
      editJson(join(south.dir, 'config.json'), (json) => (json.listen = [south.listen]))
      await start(south)
      insertPerson(north, 'n-2', 'Quilla', 'Northgate5309')
      await vi.waitFor(() => expect(lastNames(south)).toContain('Northgate5309'), {
        timeout: 60_000,
        interval: 500,
      })

      // The wan saw the traffic (libp2p's protocol names go in the clear before Noise),
      // and none of the records.
      for (const each of [north, south, relay]) await stop(each)
      capture.kill('SIGINT')
      await new Promise((resolve) => capture.once('exit', resolve))
      const captured = readFileSync(pcap)
      expect(captured.length).toBeGreaterThan(20_000)
      expect(captured.includes('/noise')).toBe(true)
      for (const secret of ['Northwick7731', 'Southby4417', 'Northgate5309', 'Quetzal', 'Ximena']) {
        expect(captured.includes(secret)).toBe(false)
      }
      // And the relay holds none of them.
      const relayDb = new Database(join(relay.dir, 'local.db'), { readonly: true })
      expect(relayDb.prepare('SELECT count(*) AS n FROM persons').get()).toEqual({ n: 0 })
      relayDb.close()
    },
  )
})
