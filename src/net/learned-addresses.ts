// Where paired peers were last seen: the addresses each said it listens on (libp2p
// identify) and the one the last connection this instance made to it went to. Kept in
// DIR/peer-addresses.json, a file of the daemon's own (peers.json stays the
// administrator's: the daemon never rewrites it on its own), written at most every few
// seconds however often peers connect. What a peer says is bounded as at pairing.
import { z } from 'zod'
import type { InstanceId } from '../model/index.ts'
import { addressKind, peerAddresses } from './pairing-protocol.ts'
import type { PeerFiles } from './peer-registry.ts'

export const LEARNED_ADDRESSES_FILE = 'peer-addresses.json'
/** Writes of the file at most this often; changes in between go into the next one. */
const WRITE_INTERVAL_MS = 5_000

export interface SeenAddresses {
  /** What the peer says it listens on. */
  learned?: string[]
  /** The address the last connection this instance made to the peer went to. */
  lastAddress?: string
}

const fileSchema = z.object({
  peers: z.record(
    z.string(),
    z.object({ learned: z.array(z.string()).optional(), lastAddress: z.string().optional() }),
  ),
})

export class LearnedAddresses {
  private readonly byPeer = new Map<InstanceId, SeenAddresses>()
  private lastWriteAt = -Infinity
  private pending: NodeJS.Timeout | undefined
  private writes: Promise<void> = Promise.resolve()

  constructor(
    private readonly files: PeerFiles,
    private readonly options: { writeIntervalMs?: number; clock?: () => number } = {},
  ) {}

  /** Reads the file; one that is missing or damaged is a cache lost, not an error. */
  async load(): Promise<void> {
    this.byPeer.clear()
    let parsed: z.infer<typeof fileSchema> | undefined
    try {
      parsed = fileSchema.parse(JSON.parse((await this.files.read(LEARNED_ADDRESSES_FILE)) ?? ''))
    } catch {
      return
    }
    for (const [id, seen] of Object.entries(parsed.peers)) {
      const lastAddress =
        seen.lastAddress !== undefined && addressKind(seen.lastAddress) !== undefined
          ? seen.lastAddress
          : undefined
      this.byPeer.set(id as InstanceId, {
        ...(seen.learned === undefined ? {} : { learned: peerAddresses(seen.learned) }),
        ...(lastAddress === undefined ? {} : { lastAddress }),
      })
    }
  }

  get(id: InstanceId): SeenAddresses {
    return this.byPeer.get(id) ?? {}
  }

  /** Notes what a connection showed of a paired peer; written only when it changed. */
  note(id: InstanceId, seen: { listen?: string[]; dialed?: string }): void {
    const before = this.get(id)
    const learned = seen.listen === undefined ? before.learned : peerAddresses(seen.listen)
    const lastAddress =
      seen.dialed !== undefined && addressKind(seen.dialed) !== undefined
        ? seen.dialed
        : before.lastAddress
    if (sameList(learned, before.learned) && lastAddress === before.lastAddress) return
    this.byPeer.set(id, {
      ...(learned === undefined ? {} : { learned }),
      ...(lastAddress === undefined ? {} : { lastAddress }),
    })
    this.scheduleWrite()
  }

  forget(id: InstanceId): void {
    if (this.byPeer.delete(id)) this.scheduleWrite()
  }

  /** Writes what is pending now (at stop). */
  async flush(): Promise<void> {
    if (this.pending !== undefined) {
      clearTimeout(this.pending)
      this.pending = undefined
      this.write()
    }
    await this.writes
  }

  private scheduleWrite(): void {
    if (this.pending !== undefined) return
    const clock = this.options.clock ?? Date.now
    const wait = this.lastWriteAt + (this.options.writeIntervalMs ?? WRITE_INTERVAL_MS) - clock()
    if (wait <= 0) {
      this.write()
      return
    }
    this.pending = setTimeout(() => {
      this.pending = undefined
      this.write()
    }, wait)
    this.pending.unref()
  }

  private write(): void {
    this.lastWriteAt = (this.options.clock ?? Date.now)()
    const text = `${JSON.stringify({ peers: Object.fromEntries(this.byPeer) }, null, 2)}\n`
    // Serialized, and a failure only costs the cache: the next change writes it again.
    this.writes = this.writes
      .then(() => this.files.write(LEARNED_ADDRESSES_FILE, text))
      .catch(() => {})
  }
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  return a?.length === b?.length && (a ?? []).every((item, index) => item === b?.[index])
}
