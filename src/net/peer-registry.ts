// The paired peers: DIR/peers.json (format: peers.example.json) and one key file per peer
// under DIR/keys (mode 0600). Pairing, unpairing and key rotation write them; the
// connection gate reads them. Fields that later parts use (share, actions, conflicts)
// are kept as written.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { z } from 'zod'
import { decodePairKey, encodePairKey } from '../crypto/index.ts'
import { ObjectSyncError } from '../errors.ts'
import type { InstanceId } from '../model/index.ts'
import { LearnedAddresses, type SeenAddresses } from './learned-addresses.ts'
import { addressKind } from './pairing-protocol.ts'
import type { ChannelKeys } from './sealed-channel.ts'

export const PEERS_FILE = 'peers.json'

const peerSchema = z.looseObject({
  id: z.string().min(1, 'expected a peer id'),
  name: z.string(),
  addresses: z.array(z.string()),
  key: z.string().min(1, 'expected the path of a key file, e.g. "keys/partner.key"'),
  /** Hold a reservation at this peer and be reachable through it (it serves as a relay). */
  relay: z.boolean('expected true or false').optional(),
  /** Paused: no session with this peer, either way, until it is resumed. */
  paused: z.boolean('expected true or false').optional(),
})
const peersFileSchema = z.looseObject({ peers: z.array(peerSchema) })

export type PeerRecord = z.infer<typeof peerSchema> & { id: InstanceId }

/** What may change in a peer's entry while the daemon runs (PeerRegistry.update). */
export interface PeerChanges {
  name?: string
  paused?: boolean
  /** The peer's `share`, kept as given (checked by whoever gives it: src/sync/scope.ts). */
  share?: Readonly<Record<string, unknown>>
}

/** Where the registry's files live: the file system, or memory in tests. */
export interface PeerFiles {
  read(path: string): Promise<string | undefined>
  /** Replaces the file atomically. */
  write(path: string, text: string): Promise<void>
  remove(path: string): Promise<void>
}

let writes = 0

export function directoryFiles(dir: string): PeerFiles {
  return {
    async read(path) {
      try {
        return await readFile(join(dir, path), 'utf8')
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw error
      }
    },
    async write(path, text) {
      // A file is never seen half-written: written under a name of its own (two writes
      // of one file at once each have theirs), flushed to disk, then renamed into place.
      const file = join(dir, path)
      await mkdir(dirname(file), { recursive: true, mode: 0o700 })
      const temporary = `${file}.${process.pid}.${++writes}.tmp`
      try {
        const handle = await open(temporary, 'w', 0o600)
        try {
          await handle.writeFile(text)
          await handle.sync()
        } finally {
          await handle.close()
        }
        await rename(temporary, file)
      } catch (error) {
        await rm(temporary, { force: true })
        throw error
      }
    },
    async remove(path) {
      await rm(join(dir, path), { force: true })
    },
  }
}

export function memoryFiles(initial: Record<string, string> = {}): PeerFiles & {
  files: Map<string, string>
} {
  const files = new Map(Object.entries(initial))
  return {
    files,
    read: (path) => Promise.resolve(files.get(path)),
    write: (path, text) => {
      files.set(path, text)
      return Promise.resolve()
    },
    remove: (path) => {
      files.delete(path)
      return Promise.resolve()
    },
  }
}

/** The sharing of a peer added by invite/pair: all four types, whole. */
const SHARE_EVERYTHING = { person: {}, organization: {}, transaction: {}, file: {} }

export class PeerRegistry {
  private document: z.infer<typeof peersFileSchema> = { peers: [] }
  private readonly byId = new Map<InstanceId, PeerRecord>()
  private writes: Promise<void> = Promise.resolve()

  private readonly seen: LearnedAddresses

  constructor(
    private readonly files: PeerFiles,
    options: { addressWriteIntervalMs?: number } = {},
  ) {
    this.seen = new LearnedAddresses(files, {
      ...(options.addressWriteIntervalMs === undefined
        ? {}
        : { writeIntervalMs: options.addressWriteIntervalMs }),
    })
  }

  /** Reads peers.json; a malformed file is refused naming the file, the field and what was expected. */
  async load(): Promise<void> {
    const text = await this.files.read(PEERS_FILE)
    if (text === undefined) return
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (error) {
      throw new ObjectSyncError(
        'INVALID_PEERS_FILE',
        `${PEERS_FILE}: not valid JSON (${(error as Error).message})`,
      )
    }
    const parsed = peersFileSchema.safeParse(json)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      const path = issue.path
        .map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`))
        .join('')
      throw new ObjectSyncError(
        'INVALID_PEERS_FILE',
        `${PEERS_FILE}: ${path.slice(1) || '(top level)'}: ${issue.message}`,
        {
          details: { file: PEERS_FILE, path },
        },
      )
    }
    this.document = parsed.data
    await this.seen.load()
    this.byId.clear()
    for (const peer of parsed.data.peers) this.byId.set(peer.id as InstanceId, peer as PeerRecord)
  }

  has(id: InstanceId): boolean {
    return this.byId.has(id)
  }

  get(id: InstanceId): PeerRecord | undefined {
    return this.byId.get(id)
  }

  list(): PeerRecord[] {
    return [...this.byId.values()]
  }

  /** The peer's keys, newest first; refuses a missing or malformed key file. */
  async keys(id: InstanceId): Promise<ChannelKeys> {
    const peer = this.byId.get(id)
    if (peer === undefined)
      throw new ObjectSyncError('PEER_NOT_FOUND', `no paired peer has the id ${id}`)
    // A peer is held from the moment it is added, its key file written just after: a
    // session it opens at once after pairing reads the key once it is there. (Seen in CI:
    // the joiner's first dial refused, "the peer did not send a valid hello".)
    await this.writes
    const text = await this.files.read(peer.key)
    const lines = text?.split('\n').filter((line) => line.trim() !== '') ?? []
    const keys = lines.map(decodePairKey)
    const [current, previous] = keys
    if (current === undefined || keys.length > 2 || keys.some((key) => key === undefined)) {
      throw new ObjectSyncError(
        'INVALID_PEERS_FILE',
        `${peer.key} (key of ${peer.name}): expected one line of base64 holding 32 bytes, as written by "objectsync keygen"`,
        { details: { file: peer.key } },
      )
    }
    return previous === undefined ? { current } : { current, previous }
  }

  saveKeys(id: InstanceId, keys: ChannelKeys): Promise<void> {
    const peer = this.byId.get(id)
    if (peer === undefined)
      return Promise.reject(
        new ObjectSyncError('PEER_NOT_FOUND', `no paired peer has the id ${id}`),
      )
    const text = encodePairKey(keys.current) + (keys.previous ? encodePairKey(keys.previous) : '')
    return this.serialize(() => this.files.write(peer.key, text))
  }

  /** Adds (or replaces) a peer with its key; the peer shares all four types until narrowed. */
  async add(
    peer: { id: InstanceId; name: string; addresses: string[] },
    keys: ChannelKeys,
  ): Promise<PeerRecord> {
    const existing = this.byId.get(peer.id)
    const record: PeerRecord = {
      share: SHARE_EVERYTHING,
      ...existing,
      ...peer,
      key: existing?.key ?? `keys/peer-${peer.id}.key`,
    }
    // Pairing again resumes a paused peer: both sides mean to sync.
    delete record.paused
    this.byId.set(peer.id, record)
    await this.saveKeys(peer.id, keys)
    await this.writeDocument()
    return record
  }

  /**
   * The addresses to dial a peer at, in order: the one the last connection was made at,
   * those it said it listens on, those given at pairing or in peers.json; addresses
   * through a relay last (libp2p may reorder them by kind).
   */
  dialAddresses(id: InstanceId): string[] {
    const peer = this.byId.get(id)
    if (peer === undefined) return []
    const seen = this.seen.get(id)
    const all = [
      ...new Set([
        ...(seen.lastAddress === undefined ? [] : [seen.lastAddress]),
        ...(seen.learned ?? []),
        ...peer.addresses,
      ]),
    ]
    const relayed = all.filter((address) => addressKind(address) === 'relayed')
    return [...all.filter((address) => !relayed.includes(address)), ...relayed]
  }

  /** Notes what a connection showed of a paired peer (peer-addresses.json, not peers.json). */
  noteAddresses(id: InstanceId, seen: { listen?: string[]; dialed?: string }): void {
    if (this.byId.has(id)) this.seen.note(id, seen)
  }

  /** Where a paired peer was last seen (learned-addresses.ts). */
  seenAddresses(id: InstanceId): SeenAddresses {
    return this.seen.get(id)
  }

  /** Writes what is pending of the learned addresses. */
  flush(): Promise<void> {
    return this.seen.flush()
  }

  /** Changes the name a peer goes by here (peers.json). */
  rename(id: InstanceId, name: string): Promise<PeerRecord> {
    return this.update(id, { name })
  }

  /**
   * Changes a peer's entry in peers.json: its name, whether it is paused (`false` leaves
   * the key out), its `share`. The registry holds the change once it is written; a write
   * that fails throws and changes nothing.
   */
  async update(id: InstanceId, changes: PeerChanges): Promise<PeerRecord> {
    const notFound = () => new ObjectSyncError('PEER_NOT_FOUND', `no paired peer has the id ${id}`)
    if (!this.byId.has(id)) throw notFound()
    let result: PeerRecord | undefined
    // Made from the entry as it is when the write's turn comes (a change queued before it
    // is then in it), written, and only then put in the registry: nothing reads a share or
    // a resume that peers.json does not hold.
    await this.writeDocument((peers) => {
      const peer = this.byId.get(id)
      if (peer === undefined) throw notFound() // unpaired meanwhile
      const updated = withChanges(peer, changes)
      return {
        peers: peers.map((each) => (each.id === id ? updated : each)),
        written: () => {
          // A re-pairing meanwhile replaced the entry: it stands.
          if (this.byId.get(id) === peer) this.byId.set(id, updated)
          result = this.byId.get(id) ?? updated
        },
      }
    })
    return result!
  }

  /** Removes a peer and its key file; false when it was not paired. */
  async remove(id: InstanceId): Promise<boolean> {
    const peer = this.byId.get(id)
    if (peer === undefined) return false
    this.byId.delete(id)
    this.seen.forget(id)
    await this.writeDocument()
    await this.serialize(() => this.files.remove(peer.key))
    return true
  }

  /**
   * Writes peers.json as the registry holds it when the write's turn comes (writes go one
   * at a time); `change` may put other entries in its place, and tell when they are written.
   */
  private writeDocument(
    change?: (peers: PeerRecord[]) => { peers: PeerRecord[]; written: () => void },
  ): Promise<void> {
    return this.serialize(async () => {
      const changed = change?.(this.list())
      const document = { ...this.document, peers: changed?.peers ?? this.list() }
      await this.files.write(PEERS_FILE, `${JSON.stringify(document, null, 2)}\n`)
      this.document = document
      changed?.written()
    })
  }

  private serialize(write: () => Promise<void>): Promise<void> {
    const next = this.writes.then(write)
    this.writes = next.catch(() => {})
    return next
  }
}

/** The entry with the changes: paused kept only as true, a share replaced whole. */
function withChanges(peer: PeerRecord, changes: PeerChanges): PeerRecord {
  const { paused, ...rest } = peer
  return {
    ...rest,
    ...(changes.name === undefined ? {} : { name: changes.name }),
    ...((changes.paused ?? paused) === true ? { paused: true } : {}),
    ...(changes.share === undefined ? {} : { share: changes.share }),
  }
}
