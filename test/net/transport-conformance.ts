// One conformance suite for every Transport: what the peer link relies on.
import { describe, expect, it } from 'vitest'
import { isObjectSyncError } from '../../src/errors.ts'
import type { InstanceId } from '../../src/model/index.ts'
import type { ByteStream, Transport } from '../../src/net/index.ts'

export interface TransportFactory {
  /** Makes a started transport whose gate admits the ids in `admitted`. */
  make(admitted: Set<string>): Promise<Transport>
}

async function readAll(stream: ByteStream, pace?: () => Promise<void>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) {
    chunks.push(chunk)
    await pace?.()
  }
  return new Uint8Array(Buffer.concat(chunks))
}

function accepted(
  transport: Transport,
  protocol: string,
): Promise<{ stream: ByteStream; remote: InstanceId }> {
  return new Promise((resolve) => {
    void transport.handle(protocol, (stream, remote) => resolve({ stream, remote }))
  })
}

/** Two started transports that admit each other. */
async function admittedPair(factory: TransportFactory): Promise<[Transport, Transport]> {
  const allowA = new Set<string>()
  const allowB = new Set<string>()
  const a = await factory.make(allowA)
  const b = await factory.make(allowB)
  allowA.add(b.localId)
  allowB.add(a.localId)
  return [a, b]
}

export function transportConformance(name: string, factory: TransportFactory): void {
  describe(`Transport conformance: ${name}`, () => {
    it('carries bytes both ways between admitted instances, naming the remote', async () => {
      const [a, b] = await admittedPair(factory)
      const incoming = accepted(b, '/test/1')
      const stream = await a.dial(b.localId, b.addresses(), '/test/1')
      const { stream: theirs, remote } = await incoming
      expect(remote).toBe(a.localId)
      await stream.send(new TextEncoder().encode('ping'))
      await stream.close()
      expect(new TextDecoder().decode(await readAll(theirs))).toBe('ping')
      await theirs.send(new TextEncoder().encode('pong'))
      await theirs.close()
      expect(new TextDecoder().decode(await readAll(stream))).toBe('pong')
      expect(a.isConnected(b.localId)).toBe(true)
      await Promise.all([a.stop(), b.stop()])
    })

    it('refuses a dial the remote does not admit, and opens no stream there', async () => {
      const a = await factory.make(new Set())
      const allowA = new Set<string>()
      const b = await factory.make(new Set())
      allowA.add(b.localId)
      const a2 = await factory.make(allowA)
      let opened = 0
      await b.handle('/test/1', () => opened++)
      const error = await a2.dial(b.localId, b.addresses(), '/test/1').then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isObjectSyncError(error, 'PEER_REFUSED')).toBe(true)
      // And one our own gate does not admit.
      const ownGate = await a.dial(b.localId, b.addresses(), '/test/1').then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isObjectSyncError(ownGate, 'PEER_REFUSED')).toBe(true)
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(opened).toBe(0)
      await Promise.all([a.stop(), b.stop(), a2.stop()])
    })

    it('reports an instance that is not there as unreachable', async () => {
      const allow = new Set<string>()
      const a = await factory.make(allow)
      const b = await factory.make(new Set())
      const address = b.addresses()
      const id = b.localId
      await b.stop()
      allow.add(id)
      const error = await a.dial(id, address, '/test/1').then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isObjectSyncError(error, 'PEER_UNREACHABLE')).toBe(true)
      await a.stop()
    })

    it('hangUp ends open streams on both sides within a second', async () => {
      const [a, b] = await admittedPair(factory)
      const incoming = accepted(b, '/test/1')
      const stream = await a.dial(b.localId, b.addresses(), '/test/1')
      const { stream: theirs } = await incoming
      const started = Date.now()
      const ended = Promise.all([
        readAll(theirs).catch(() => 'ended'),
        readAll(stream).catch(() => 'ended'),
      ])
      await b.hangUp(a.localId)
      await ended
      expect(Date.now() - started).toBeLessThan(1000)
      expect(b.isConnected(a.localId)).toBe(false)
      await Promise.all([a.stop(), b.stop()])
    })

    it('gives a slow reader every byte in order while the sender waits for it', async () => {
      const [a, b] = await admittedPair(factory)
      const incoming = accepted(b, '/test/1')
      const stream = await a.dial(b.localId, b.addresses(), '/test/1')
      const chunk = new Uint8Array(64 << 10).fill(7)
      const total = 16 << 20
      const sending = (async () => {
        for (let sent = 0; sent < total; sent += chunk.length) await stream.send(chunk)
        await stream.close()
      })()
      const { stream: theirs } = await incoming
      let reads = 0
      // A slow reader: the sender must wait for it rather than fail or fill memory.
      const received = await readAll(theirs, async () => {
        if (++reads % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 2))
      })
      await sending
      expect(received.length).toBe(total)
      expect(received.every((byte) => byte === 7)).toBe(true)
      await Promise.all([a.stop(), b.stop()])
    })

    // Regression: @libp2p/utils' onDrain() promise is never re-armed after the first
    // drain, so a sender awaiting send() in a loop spun on microtasks, starved the event
    // loop and queued gigabytes; the bench then died on a libp2p timeout.
    it('regression: a tight send loop yields to I/O and the reader keeps up', async () => {
      const [a, b] = await admittedPair(factory)
      let received = 0
      await b.handle('/test/1', (stream) => {
        void (async () => {
          for await (const chunk of stream) received += chunk.length
        })()
      })
      const stream = await a.dial(b.localId, b.addresses(), '/test/1')
      let timerFired = false
      setTimeout(() => (timerFired = true), 0)
      const chunk = new Uint8Array(1024)
      let sent = 0
      let receivedWhileSending = 0
      const sends = 60_000
      for (let i = 0; i < sends; i++) {
        await stream.send(chunk)
        sent += chunk.length
        if (i === sends - 1) receivedWhileSending = received
      }
      expect(timerFired).toBe(true)
      // The sender stays within the buffers on the way (ours, yamux's window of up to
      // 16 MiB, the sockets'), far below the 61 MB it sent; before the fix nothing
      // arrived until the loop ended.
      expect(sent - receivedWhileSending).toBeLessThan(32 << 20)
      await stream.close()
      await Promise.all([a.stop(), b.stop()])
    })
  })
}
