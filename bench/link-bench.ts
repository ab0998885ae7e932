// The peer link benchmark: frames between two libp2p nodes over loopback TCP, sealed
// (the sync protocol's channel) against unsealed (the same framing on a raw stream), in
// the same run. Used by `npm run bench:link` and by a small smoke run in `npm test`.
import type { InstanceId } from '../src/model/index.ts'
import {
  PeerLinks,
  PeerRegistry,
  createIdentity,
  createLibp2pTransport,
  memoryFiles,
  type SealedChannel,
  type Transport,
} from '../src/net/index.ts'
import { encodeFrame, readFrames } from '../src/net/frames.ts'
import { pairRegistries } from './sync-node.ts'

export interface LinkFigures {
  frameBytes: number
  frames: number
  unsealedMBps: number
  unsealedFramesPerSecond: number
  sealedMBps: number
  sealedFramesPerSecond: number
  sealedToUnsealed: number
}

const RAW_PROTOCOL = '/objectsync-bench/raw/1.0.0'

interface Node {
  id: InstanceId
  transport: Transport
  links: PeerLinks
  registry: PeerRegistry
  inbound: SealedChannel[]
}

async function node(name: string): Promise<Node> {
  const identity = await createIdentity()
  const registry = new PeerRegistry(memoryFiles())
  const inbound: SealedChannel[] = []
  const links = new PeerLinks({ registry, name, onChannel: (channel) => inbound.push(channel) })
  const transport = await createLibp2pTransport({
    privateKey: identity.privateKey,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    gate: links.admits,
  })
  await transport.start()
  await links.start(transport)
  return { id: identity.id, transport, links, registry, inbound }
}

async function until<T>(get: () => T | undefined): Promise<T> {
  for (;;) {
    const value = get()
    if (value !== undefined) return value
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}

function figures(bytes: number, frames: number, ms: number): { mbps: number; fps: number } {
  return {
    mbps: Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10,
    fps: Math.round(frames / (ms / 1000)),
  }
}

export async function runLinkBench(
  totalBytes: number,
  frameSizes: readonly number[],
): Promise<LinkFigures[]> {
  const a = await node('a')
  const b = await node('b')
  await pairRegistries(a, b)
  let rawReceived: Promise<number> | undefined
  await b.transport.handle(RAW_PROTOCOL, (stream) => {
    rawReceived = (async () => {
      let count = 0
      for await (const frame of readFrames(stream)) count += frame.length > 0 ? 1 : 0
      return count
    })()
  })
  const results: LinkFigures[] = []
  try {
    for (const frameBytes of frameSizes) {
      const frames = Math.max(1, Math.floor(totalBytes / frameBytes))
      const payload = new Uint8Array(frameBytes).fill(42)

      const rawStart = performance.now()
      const raw = await a.transport.dial(b.id, b.transport.addresses(), RAW_PROTOCOL)
      for (let i = 0; i < frames; i++) await raw.send(encodeFrame(payload))
      await raw.close()
      const rawCount = await until(() => rawReceived)
      rawReceived = undefined
      const rawMs = performance.now() - rawStart

      const sealedStart = performance.now()
      const channel = await a.links.connect(b.id)
      const theirs = await until(() => b.inbound.shift())
      const receiving = (async () => {
        let count = 0
        for await (const received of theirs) count += received.length > 0 ? 1 : 0
        return count
      })()
      for (let i = 0; i < frames; i++) await channel.send(payload)
      await channel.close()
      const sealedCount = await receiving
      const sealedMs = performance.now() - sealedStart

      if (rawCount !== frames || sealedCount !== frames) {
        throw new Error(`frames lost: sent ${frames}, raw ${rawCount}, sealed ${sealedCount}`)
      }
      const rawFigures = figures(frames * frameBytes, frames, rawMs)
      const sealedFigures = figures(frames * frameBytes, frames, sealedMs)
      results.push({
        frameBytes,
        frames,
        unsealedMBps: rawFigures.mbps,
        unsealedFramesPerSecond: rawFigures.fps,
        sealedMBps: sealedFigures.mbps,
        sealedFramesPerSecond: sealedFigures.fps,
        sealedToUnsealed: Math.round((sealedFigures.mbps / rawFigures.mbps) * 100) / 100,
      })
    }
  } finally {
    a.links.stop()
    b.links.stop()
    await Promise.all([a.transport.stop(), b.transport.stop()])
  }
  return results
}
