// Three daemons on loopback: R relays for its paired peers ("relay": { "serve": true });
// A and B listen on no address of their own — as behind a NAT, reachable only through R —
// and mark R as their relay in peers.json. They pair through R, sync both ways, keep
// syncing after R restarts, and R holds none of their records (it shares nothing).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { onTestFinished, describe, expect, it, vi } from 'vitest'
import { parseConfig } from '../daemon/config.ts'
import type { PeerView } from '../daemon/events.ts'
import { initInstance } from '../daemon/init.ts'
import { runDaemon, type Daemon } from '../daemon/run.ts'
import { silentLogger } from '../src/log.ts'
import { isCircuit } from '../src/net/index.ts'
import { freePort } from './helpers/daemon-mesh.ts'
import { callApi } from './helpers/daemons.ts'
import { tempDir } from './helpers/stores.ts'

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
})
