// An in-process Transport for fast tests of everything above the link: instances on one
// MemoryNetwork reach each other by id, with the same gating, hang-up and backpressure
// rules as libp2p. It passes the transport conformance suite.
import { ObjectSyncError } from '../errors.ts'
import type { InstanceId } from '../model/index.ts'
import { ByteQueue, HIGH_WATER_BYTES, type ByteStream, type StreamHandler } from './byte-stream.ts'
import type { ConnectionGate, Transport } from './transport.ts'

interface Pipe {
  a: InstanceId
  b: InstanceId
  abort: (reason: Error) => void
}

export class MemoryNetwork {
  private readonly transports = new Map<InstanceId, MemoryTransport>()
  private readonly pipes = new Set<Pipe>()

  transport(id: string, gate: ConnectionGate): MemoryTransport {
    return new MemoryTransport(this, id as InstanceId, gate)
  }

  /** @internal */
  register(transport: MemoryTransport): void {
    this.transports.set(transport.localId, transport)
  }

  /** @internal */
  unregister(transport: MemoryTransport): void {
    this.transports.delete(transport.localId)
    this.hangUp(transport.localId)
  }

  /** @internal */
  find(id: string): MemoryTransport | undefined {
    return this.transports.get(id as InstanceId)
  }

  /** @internal */
  open(from: InstanceId, to: InstanceId): { local: ByteStream; remote: ByteStream } {
    const [local, remote, abort] = streamPair()
    const pipe: Pipe = { a: from, b: to, abort }
    this.pipes.add(pipe)
    return { local, remote }
  }

  /** @internal */
  hangUp(id: InstanceId, other?: InstanceId): void {
    for (const pipe of this.pipes) {
      const involved = pipe.a === id || pipe.b === id
      const withOther = other === undefined || pipe.a === other || pipe.b === other
      if (involved && withOther) {
        pipe.abort(new Error('connection closed'))
        this.pipes.delete(pipe)
      }
    }
  }

  /** @internal */
  connected(id: InstanceId, other: InstanceId): boolean {
    for (const pipe of this.pipes) {
      if ((pipe.a === id && pipe.b === other) || (pipe.a === other && pipe.b === id)) return true
    }
    return false
  }
}

export class MemoryTransport implements Transport {
  private readonly handlers = new Map<string, StreamHandler>()
  private started = false

  constructor(
    private readonly network: MemoryNetwork,
    readonly localId: InstanceId,
    private readonly gate: ConnectionGate,
  ) {}

  start(): Promise<void> {
    this.started = true
    this.network.register(this)
    return Promise.resolve()
  }

  stop(): Promise<void> {
    this.started = false
    this.network.unregister(this)
    return Promise.resolve()
  }

  addresses(): string[] {
    return [`/memory/${this.localId}`]
  }

  dialable(address: string): boolean {
    return address.startsWith('/memory/')
  }

  handle(protocol: string, handler: StreamHandler): Promise<void> {
    this.handlers.set(protocol, handler)
    return Promise.resolve()
  }

  dial(remote: InstanceId, _addresses: readonly string[], protocol: string): Promise<ByteStream> {
    const target = this.started ? this.network.find(remote) : undefined
    if (target === undefined) {
      return Promise.reject(new ObjectSyncError('PEER_UNREACHABLE', `could not reach ${remote}`))
    }
    if (!this.gate(remote) || !target.admits(this.localId)) {
      return Promise.reject(
        new ObjectSyncError('PEER_REFUSED', `${remote} does not accept this instance (not paired)`),
      )
    }
    const handler = target.handlers.get(protocol)
    if (handler === undefined) {
      return Promise.reject(
        new ObjectSyncError('PEER_UNREACHABLE', `${remote} does not speak ${protocol}`),
      )
    }
    const { local, remote: theirs } = this.network.open(this.localId, remote)
    queueMicrotask(() => handler(theirs, this.localId))
    return Promise.resolve(local)
  }

  hangUp(remote: InstanceId): Promise<void> {
    this.network.hangUp(this.localId, remote)
    return Promise.resolve()
  }

  isConnected(remote: InstanceId): boolean {
    return this.network.connected(this.localId, remote)
  }

  /** @internal */
  admits(remote: InstanceId): boolean {
    return this.gate(remote)
  }
}

/** Two connected ends; the writer waits while the reader has HIGH_WATER_BYTES unread. */
export function streamPair(): [ByteStream, ByteStream, (reason: Error) => void] {
  const toA = new Backpressured()
  const toB = new Backpressured()
  const abort = (reason: Error) => {
    toA.fail(reason)
    toB.fail(reason)
  }
  const end = (incoming: Backpressured, outgoing: Backpressured): ByteStream => ({
    [Symbol.asyncIterator]: () => incoming.queue[Symbol.asyncIterator](),
    send: (bytes) => outgoing.send(bytes),
    close: () => {
      outgoing.queue.end()
      return Promise.resolve()
    },
    abort,
  })
  return [end(toA, toB), end(toB, toA), abort]
}

class Backpressured {
  private waiting: (() => void)[] = []
  readonly queue = new ByteQueue(
    () => {},
    () => this.release(),
  )
  private failure: Error | undefined

  async send(bytes: Uint8Array): Promise<void> {
    // Copy, as a socket would: the sender may reuse its buffer.
    if (this.failure === undefined) this.queue.push(bytes.slice())
    while (this.failure === undefined && this.queue.unreadBytes >= HIGH_WATER_BYTES) {
      await new Promise<void>((resolve) => this.waiting.push(resolve))
      // Yield to timers and I/O as a socket would; microtasks alone would starve them.
      await new Promise((resolve) => setImmediate(resolve))
    }
    // As libp2p does, a reset stream fails the write with a plain error; the link layer
    // decides what it means.
    if (this.failure !== undefined) throw new Error(`the stream was reset: ${this.failure.message}`)
  }

  fail(reason: Error): void {
    this.failure ??= reason
    this.queue.end(reason)
    this.release()
  }

  private release(): void {
    const waiting = this.waiting
    this.waiting = []
    for (const resolve of waiting) resolve()
  }
}
