// A transport wrapper that misbehaves on request, below the sealed channel: it drops,
// duplicates or reorders whole frames (the sealed channel sends one frame per `send`),
// and it cuts links (a partition: connections closed, dials refused) until healed.
// Everything above it — sealed frames, sessions, the store — is the real thing.
import { ObjectSyncError } from '../../src/errors.ts'
import type { InstanceId } from '../../src/model/index.ts'
import type { ByteStream, Transport } from '../../src/net/index.ts'

export type FrameFault = 'drop' | 'duplicate' | 'reorder'

export class Faults {
  private readonly pending = new Map<string, FrameFault[]>()
  private readonly cut = new Set<string>()
  private readonly transports = new Map<InstanceId, Transport>()
  readonly applied: Record<FrameFault, number> = { drop: 0, duplicate: 0, reorder: 0 }

  /** The next frame `from` sends to `to` suffers `fault`. */
  inject(from: InstanceId, to: InstanceId, fault: FrameFault): void {
    const key = `${from}>${to}`
    this.pending.set(key, [...(this.pending.get(key) ?? []), fault])
  }

  /** @internal */
  takeFault(from: InstanceId, to: InstanceId): FrameFault | undefined {
    const fault = this.pending.get(`${from}>${to}`)?.shift()
    if (fault !== undefined) this.applied[fault]++
    return fault
  }

  async partition(a: InstanceId, b: InstanceId): Promise<void> {
    this.cut.add(linkKey(a, b))
    await this.transports.get(a)?.hangUp(b)
    await this.transports.get(b)?.hangUp(a)
  }

  heal(a: InstanceId, b: InstanceId): void {
    this.cut.delete(linkKey(a, b))
  }

  /** Ends every partition and drops faults not yet applied. */
  healAll(): void {
    this.cut.clear()
    this.pending.clear()
  }

  isCut(a: InstanceId, b: InstanceId): boolean {
    return this.cut.has(linkKey(a, b))
  }

  /** @internal */
  register(transport: Transport): void {
    this.transports.set(transport.localId, transport)
  }
}

function linkKey(a: InstanceId, b: InstanceId): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`
}

export function faultyTransport(inner: Transport, faults: Faults): Transport {
  faults.register(inner)
  const local = inner.localId
  const wrap = (stream: ByteStream, remote: InstanceId): ByteStream => {
    let held: Uint8Array | undefined
    return {
      [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
      async send(frame) {
        if (faults.isCut(local, remote)) return
        const fault = faults.takeFault(local, remote)
        if (fault === 'drop') return
        if (fault === 'reorder' && held === undefined) {
          held = frame
          return
        }
        await stream.send(frame)
        if (fault === 'duplicate') await stream.send(frame)
        if (held !== undefined) {
          const late = held
          held = undefined
          await stream.send(late)
        }
      },
      close: () => stream.close(),
      abort: (reason) => stream.abort(reason),
    }
  }
  return {
    localId: local,
    start: () => inner.start(),
    stop: () => inner.stop(),
    addresses: () => inner.addresses(),
    dialable: (address) => inner.dialable(address),
    handle: (protocol, handler) =>
      inner.handle(protocol, (stream, remote) => {
        if (faults.isCut(local, remote)) {
          stream.abort(new Error('partitioned'))
          return
        }
        handler(wrap(stream, remote), remote)
      }),
    async dial(remote, addresses, protocol, options) {
      if (faults.isCut(local, remote)) {
        throw new ObjectSyncError(
          'PEER_UNREACHABLE',
          `${remote} is on the other side of a partition`,
        )
      }
      return wrap(await inner.dial(remote, addresses, protocol, options), remote)
    },
    hangUp: (remote) => inner.hangUp(remote),
    isConnected: (remote) => inner.isConnected(remote),
  }
}

/**
 * How long nodes over a faulty transport wait for a peer's hello: a hello lost to a
 * dropped frame is given up on within a second (10 s unless told), so the redial comes
 * well before a schedule's time to converge is out.
 */
export const FAULTY_HELLO_TIMEOUT_MS = 1_000
