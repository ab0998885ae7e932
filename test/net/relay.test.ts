// A relay serves only its paired peers: an instance it merely admits (one holding an open
// invite of it, say) gets no reservation and can't be relayed to or from a paired peer.
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { InstanceId } from '../../src/model/index.ts'
import {
  createIdentity,
  createLibp2pTransport,
  isCircuit,
  type Identity,
  type Transport,
} from '../../src/net/index.ts'
import { freePort } from '../helpers/daemon-mesh.ts'

const running: Transport[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((transport) => transport.stop()))
})

async function transport(options: {
  listen: string[]
  serve?: boolean
  paired?: (remote: InstanceId) => boolean
  through?: { id: InstanceId; addresses: string[] }[]
}): Promise<Transport> {
  const identity = await createIdentity()
  const made = await createLibp2pTransport({
    privateKey: identity.privateKey,
    listen: options.listen,
    // Every instance is let in: what is tested is what the relay serves.
    gate: () => true,
    relay: {
      serve: options.serve ?? false,
      through: options.through ?? [],
      paired: options.paired ?? (() => true),
    },
  })
  await made.start()
  running.push(made)
  return made
}

/** A relay for everyone, with a given identity and address (one that was down till now). */
async function relayAt(identity: Identity, address: string): Promise<Transport> {
  const relay = await createLibp2pTransport({
    privateKey: identity.privateKey,
    listen: [address],
    gate: () => true,
    relay: { serve: true, through: [], paired: () => true },
  })
  await relay.start()
  running.push(relay)
  return relay
}

describe('a relay', () => {
  it(
    'reserves for paired peers only, and relays only between them',
    { timeout: 30_000 },
    async () => {
      const relayAddress = `/ip4/127.0.0.1/tcp/${await freePort()}`
      const pairedWithRelay = new Set<InstanceId>()
      const relay = await transport({
        listen: [relayAddress],
        serve: true,
        paired: (remote) => pairedWithRelay.has(remote),
      })
      const through = [{ id: relay.localId, addresses: [relayAddress] }]
      const member = await transport({ listen: [], through })
      const stranger = await transport({ listen: [], through })
      pairedWithRelay.add(member.localId)
      await member.handle('/test/echo/1', (stream) => {
        void (async () => {
          for await (const bytes of stream) await stream.send(bytes)
          await stream.close()
        })()
      })

      await vi.waitFor(() => expect(member.reservedRelays?.()).toEqual([relay.localId]), {
        timeout: 15_000,
        interval: 100,
      })
      const circuits = member.addresses().filter(isCircuit)
      expect(circuits.length).toBeGreaterThan(0)
      // The stranger asks as soon as it is connected (within a second, as the member
      // did), and is refused: over two seconds it never holds a reservation.
      for (let waited = 0; waited < 2_000; waited += 100) {
        expect(stranger.reservedRelays?.()).toEqual([])
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(stranger.isConnected(relay.localId)).toBe(true)

      // Nor does the relay connect the stranger to its paired peer.
      await expect(stranger.dial(member.localId, circuits, '/test/echo/1')).rejects.toThrow()
      // Once paired with the relay, it does, and the stream carries bytes both ways.
      pairedWithRelay.add(stranger.localId)
      const stream = await stranger.dial(member.localId, circuits, '/test/echo/1')
      await stream.send(new TextEncoder().encode('through the relay'))
      for await (const bytes of stream) {
        expect(new TextDecoder().decode(bytes)).toBe('through the relay')
        break
      }
      expect(stranger.connectionPath?.(member.localId)).toEqual({
        path: 'relay',
        relay: relay.localId,
      })
    },
  )

  it(
    'is reserved once it answers, also when it was down as the instance started',
    { timeout: 40_000 },
    async () => {
      const relayAddress = `/ip4/127.0.0.1/tcp/${await freePort()}`
      const relayIdentity = await createIdentity()
      const member = await transport({
        listen: [],
        through: [{ id: relayIdentity.id, addresses: [relayAddress] }],
      })
      // Down past libp2p's own redials of a keep-alive peer.
      await new Promise((resolve) => setTimeout(resolve, 5_000))
      expect(member.reservedRelays?.()).toEqual([])
      const relay = await relayAt(relayIdentity, relayAddress)
      const upAt = Date.now()
      await vi.waitFor(() => expect(member.reservedRelays?.()).toEqual([relay.localId]), {
        timeout: 15_000,
        interval: 100,
      })
      console.log(`reserved ${Date.now() - upAt} ms after the relay came up`)
    },
  )

  it(
    'is the one chosen: another relaying peer gets no reservation',
    { timeout: 40_000 },
    async () => {
      const chosenAddress = `/ip4/127.0.0.1/tcp/${await freePort()}`
      const chosenIdentity = await createIdentity()
      const otherAddress = `/ip4/127.0.0.1/tcp/${await freePort()}`
      const other = await transport({ listen: [otherAddress], serve: true })
      const member = await transport({
        listen: [],
        through: [{ id: chosenIdentity.id, addresses: [chosenAddress] }],
      })
      await other.handle('/test/hello/1', (stream) => void stream.close())
      // Connected to a peer that serves relaying while the chosen relay is down.
      const stream = await member.dial(other.localId, [otherAddress], '/test/hello/1')
      await stream.close()
      for (let waited = 0; waited < 3_000; waited += 100) {
        expect(member.reservedRelays?.()).toEqual([])
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      const chosen = await relayAt(chosenIdentity, chosenAddress)
      await vi.waitFor(() => expect(member.reservedRelays?.()).toEqual([chosen.localId]), {
        timeout: 15_000,
        interval: 100,
      })
      expect(
        member
          .addresses()
          .filter(isCircuit)
          .every((address) => address.includes(chosen.localId)),
      ).toBe(true)
    },
  )
})
