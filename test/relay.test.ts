// Three daemons on loopback: R relays for its paired peers ("relay": { "serve": true });
// A and B listen on no address of their own — as behind a NAT, reachable only through R —
// and mark R as their relay in peers.json. They pair through R, sync both ways, keep
// syncing after R restarts, and R holds none of their records (it shares nothing).
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { onTestFinished, describe, expect, it, vi } from 'vitest'
import { parseConfig } from '../daemon/config.ts'
import { describePeer } from '../daemon/describe.ts'
import type { PeerView } from '../daemon/events.ts'
import { initInstance } from '../daemon/init.ts'
import { runDaemon, type Daemon } from '../daemon/run.ts'
import { silentLogger } from '../src/log.ts'
import { isCircuit } from '../src/net/index.ts'
import { freePort } from './helpers/daemon-mesh.ts'
import { callApi } from './helpers/daemons.ts'
import { tempDir } from './helpers/stores.ts'

const CHROMIUM = '/usr/bin/chromium'
// CI installs Chromium (.ci/run); elsewhere the page check is left out.
const haveBrowser = existsSync(CHROMIUM) || process.env.CI !== undefined

/** The status page, in a real browser, says how each peer is connected. */
async function expectPageShowsPaths(node: Node, relayed: string, relay: string): Promise<void> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  try {
    const page = await browser.newPage()
    await page.goto(`http://127.0.0.1:${node.daemon.apiPort}/#token=${node.token}`)
    await page.locator(`[id="peer-${relayed}"] .path`).waitFor({ timeout: 10_000 })
    expect(await page.locator(`[id="peer-${relayed}"] .path`).textContent()).toBe('via relay relay')
    expect(await page.locator(`[id="peer-${relay}"] .path`).textContent()).toBe(
      'our relay: reserved',
    )
  } finally {
    await browser.close()
  }
}

interface Node {
  name: string
  dir: string
  token: string
  listen: string[]
  serve: boolean
  daemon: Daemon
}

async function createNode(name: string, listen: string[], serve = false): Promise<Node> {
  const dir = tempDir(`relay-${name}`)
  await initInstance(dir, { name })
  const token = readFileSync(join(dir, 'api-token'), 'utf8').trim()
  const node = { name, dir, token, listen, serve, daemon: undefined as unknown as Daemon }
  await start(node)
  return node
}

async function start(node: Node): Promise<void> {
  const config = parseConfig({
    name: node.name,
    listen: node.listen,
    api: { port: 0 },
    relay: { serve: node.serve },
  })
  node.daemon = await runDaemon(node.dir, config, silentLogger)
}

async function restart(node: Node): Promise<void> {
  await node.daemon.stop()
  await start(node)
}

async function pair(inviter: Node, joiner: Node): Promise<string> {
  const invite = await callApi<{ token: string }>(inviter, 'POST', '/v1/invites', {
    body: { expires: '10m' },
  })
  const paired = await callApi<{ id: string }>(joiner, 'POST', '/v1/pair', {
    body: { token: invite.json.token },
  })
  expect(paired.status).toBe(201)
  return paired.json.id
}

/** Rewrites peers.json: each peer's entry through `edit` (read at the next start). */
function editPeers(node: Node, edit: (peer: Record<string, unknown>) => void): void {
  const file = join(node.dir, 'peers.json')
  const peers = JSON.parse(readFileSync(file, 'utf8')) as { peers: Record<string, unknown>[] }
  peers.peers.forEach(edit)
  writeFileSync(file, JSON.stringify(peers, null, 2))
}

async function peers(node: Node): Promise<PeerView[]> {
  return (await callApi<{ peers: PeerView[] }>(node, 'GET', '/v1/peers')).json.peers
}

async function personsNamed(node: Node, lastName: string): Promise<string[]> {
  const listed = await callApi<{ items: { fields: { firstName: string; lastName: string } }[] }>(
    node,
    'GET',
    '/v1/objects?type=person',
  )
  return listed.json.items
    .filter((item) => item.fields.lastName === lastName)
    .map((item) => item.fields.firstName)
    .sort()
}

async function createPerson(node: Node, firstName: string, lastName: string): Promise<string> {
  const created = await callApi<{ id: string }>(node, 'POST', '/v1/objects', {
    body: { type: 'person', fields: { firstName, lastName } },
  })
  expect(created.status).toBe(201)
  return created.json.id
}

describe('peers in different networks, through a paired relay', () => {
  it(
    'pair, sync both ways and keep syncing across a relay restart; the relay holds no records',
    { timeout: 120_000 },
    async () => {
      const relayAddress = `/ip4/127.0.0.1/tcp/${await freePort()}`
      const r = await createNode('relay', [relayAddress], true)
      onTestFinished(() => r.daemon.stop())
      const a = await createNode('north', ['/ip4/127.0.0.1/tcp/0'])
      onTestFinished(() => a.daemon.stop())
      const b = await createNode('south', ['/ip4/127.0.0.1/tcp/0'])
      onTestFinished(() => b.daemon.stop())
      // Both pair with the relay directly, then listen nowhere of their own and keep a
      // reservation at R; R and they share nothing with each other.
      const relayId = await pair(r, a)
      await pair(r, b)
      for (const node of [a, b]) {
        node.listen = []
        editPeers(node, (peer) => {
          peer.relay = true
          peer.share = {}
        })
        await restart(node)
      }
      editPeers(r, (peer) => (peer.share = {}))
      await restart(r)
      await createPerson(a, 'Ada', 'North')
      await createPerson(b, 'Bo', 'South')

      // Each holds a reservation at R and is reachable only through it.
      for (const node of [a, b]) {
        await vi.waitFor(
          async () => expect((await peers(node))[0]).toMatchObject({ relay: { reserved: true } }),
          { timeout: 20_000, interval: 200 },
        )
      }
      const invite = await callApi<{ token: string }>(b, 'POST', '/v1/invites', {
        body: { expires: '10m' },
      })
      const paired = await callApi<{ id: string; addresses: string[] }>(a, 'POST', '/v1/pair', {
        body: { token: invite.json.token },
      })
      expect(paired.status).toBe(201)
      expect(paired.json.addresses.length).toBeGreaterThan(0)
      expect(paired.json.addresses.every(isCircuit)).toBe(true)

      // First sync both ways, through R.
      await vi.waitFor(async () => expect(await personsNamed(a, 'South')).toEqual(['Bo']), {
        timeout: 30_000,
        interval: 200,
      })
      await vi.waitFor(async () => expect(await personsNamed(b, 'North')).toEqual(['Ada']), {
        timeout: 30_000,
        interval: 200,
      })
      const viaRelay = (await peers(a)).find((peer) => peer.id === paired.json.id)
      expect(viaRelay?.connection).toEqual({ path: 'relay', relay: { id: relayId, name: 'relay' } })
      // As `objectsync status` and /metrics tell it.
      expect(describePeer(viaRelay!)).toContain('connected via relay relay')
      expect(describePeer((await peers(a)).find((peer) => peer.id === relayId)!)).toContain(
        'connected (our relay: reserved)',
      )
      const metrics = await a.daemon.api.inject({
        method: 'GET',
        url: '/metrics',
        headers: { host: `127.0.0.1:${a.daemon.apiPort}`, authorization: `Bearer ${a.token}` },
      })
      expect(metrics.body).toMatch(
        new RegExp(`objectsync_peer_relayed\\{peer="${paired.json.id}",name="south"\\} 1`),
      )
      expect(metrics.body).toMatch(
        new RegExp(`objectsync_relay_reserved\\{peer="${relayId}",name="relay"\\} 1`),
      )

      if (haveBrowser) await expectPageShowsPaths(a, paired.json.id, relayId)

      // A live edit.
      await createPerson(a, 'Alma', 'North')
      await vi.waitFor(
        async () => expect(await personsNamed(b, 'North')).toEqual(['Ada', 'Alma']),
        { timeout: 15_000, interval: 100 },
      )

      // R restarts: A and B reserve again and reconnect through it within seconds.
      await restart(r)
      const restartedAt = Date.now()
      await createPerson(b, 'Berit', 'South')
      await vi.waitFor(
        async () => expect(await personsNamed(a, 'South')).toEqual(['Berit', 'Bo']),
        { timeout: 30_000, interval: 200 },
      )
      const reconnectedMs = Date.now() - restartedAt
      expect(reconnectedMs).toBeLessThan(30_000)
      const again = (await peers(a)).find((peer) => peer.id === paired.json.id)
      expect(again?.connection).toEqual({ path: 'relay', relay: { id: relayId, name: 'relay' } })
      console.log(`relay restarted: an edit at B reached A through it after ${reconnectedMs} ms`)

      // R relayed sealed bytes only: it holds none of their records.
      const status = await callApi<{ objects: Record<string, number> }>(r, 'GET', '/v1/status')
      expect(status.json.objects).toEqual({ person: 0, organization: 0, transaction: 0, file: 0 })
    },
  )

  it(
    'a peer that moved is dialled where it last said it listens',
    { timeout: 60_000 },
    async () => {
      const a = await createNode('north', [`/ip4/127.0.0.1/tcp/${await freePort()}`])
      onTestFinished(() => a.daemon.stop())
      const b = await createNode('south', [`/ip4/127.0.0.1/tcp/${await freePort()}`])
      onTestFinished(() => b.daemon.stop())
      const bId = await pair(b, a)
      // B moves to another port; it still knows where A is and dials it, and A learns
      // from B where B listens now.
      const moved = `/ip4/127.0.0.1/tcp/${await freePort()}`
      const peersJson = readFileSync(join(a.dir, 'peers.json'), 'utf8')
      b.listen = [moved]
      await restart(b)
      // Kept in A's peer-addresses.json (written within seconds); peers.json, the
      // administrator's file, is left as it was.
      const learnedAt = (node: Node, peer: string) => {
        try {
          const file = readFileSync(join(node.dir, 'peer-addresses.json'), 'utf8')
          return (JSON.parse(file) as { peers: Record<string, { learned?: string[] }> }).peers[peer]
            ?.learned
        } catch {
          return undefined
        }
      }
      await vi.waitFor(() => expect(learnedAt(a, bId)).toContain(moved), {
        timeout: 20_000,
        interval: 100,
      })
      expect(readFileSync(join(a.dir, 'peers.json'), 'utf8')).toBe(peersJson)
      // Now B can't reach A (it forgets where A is), so only A's dial can connect them.
      await b.daemon.stop()
      const nowhere = `/ip4/127.0.0.1/tcp/${await freePort()}`
      editPeers(b, (peer) => (peer.addresses = [nowhere]))
      rmSync(join(b.dir, 'peer-addresses.json'), { force: true })
      await start(b)
      await restart(a)
      await vi.waitFor(
        async () =>
          expect((await peers(a)).find((peer) => peer.id === bId)).toMatchObject({
            connected: true,
            connection: { path: 'direct' },
          }),
        { timeout: 20_000, interval: 100 },
      )
      await createPerson(a, 'Ada', 'North')
      await vi.waitFor(async () => expect(await personsNamed(b, 'North')).toEqual(['Ada']), {
        timeout: 15_000,
        interval: 100,
      })
    },
  )
})
