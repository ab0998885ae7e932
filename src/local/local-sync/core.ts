// What the parts of the local sync share: the options it is made with, its events, and
// the core record handed to each collaborator through its constructor (each takes only
// the members it needs, as js-libp2p's components are handed out).
import type { Logger } from '../../log.ts'
import type { EventMap, TypedEvents } from '../../typed-events.ts'
import type { InstanceId, ObjectId, ObjectType } from '../../model/index.ts'
import type { ObjectStore } from '../../store/index.ts'
import type { PeerActions } from '../actions.ts'
import type { BadRow, Connector } from '../connector.ts'
import type { EntityMapping } from '../mapping/index.ts'
import type { MatchIndex } from '../matching.ts'
import type { Groups } from './groups.ts'
import type { LocalSystemState } from './health.ts'
import type { AwaitedReferences } from './awaited-references.ts'
import type { Links } from './links.ts'
import type { PeerRules } from './peer-rules.ts'
import type { RowReader } from './row-reader.ts'

export interface LocalSyncOptions {
  store: ObjectStore
  connector: Connector
  mapping: Map<ObjectType, EntityMapping>
  instanceId: InstanceId
  logger?: Logger
  /** How often the local system's change log is read (changes show up within this). */
  pollMs?: number
  /** What each peer's changes may do here, and which groups its share names per type. */
  peers?: ReadonlyMap<InstanceId, LocalPeerSettings>
  /**
   * How often everything is reconciled in full (every row read against the store, every
   * linked object written again where it differs, failed writes retried). Default 24 h.
   */
  housekeepingMs?: number
}

export interface LocalPeerSettings {
  actions?: PeerActions
  /** The `groups` rules of the peer's share, per type: records in them are in its scope. */
  shareGroups?: Partial<Record<ObjectType, readonly string[]>>
}

export interface LocalSyncEvents extends EventMap {
  /**
   * Rows of the local system read (at start and at housekeeping): every
   * INGEST_PROGRESS_ROWS rows of a table, and once with `done` at the table's end.
   */
  'ingest-progress': [table: string, rows: number, done: boolean]
  /** An object entered or left the review queue. */
  review: [object: ObjectId]
  /** The local system stopped answering, or answers again. */
  'local-system': [state: LocalSystemState]
}

/** The shared parts, made once by the front class. */
export interface LocalSyncCore {
  store: ObjectStore
  connector: Connector
  mapping: ReadonlyMap<ObjectType, EntityMapping>
  /**
   * The same entities by their table (change-log entries name tables); several where a
   * table holds entities told apart by a row filter.
   */
  byTable: ReadonlyMap<string, readonly EntityMapping[]>
  instanceId: InstanceId
  peers: ReadonlyMap<InstanceId, LocalPeerSettings>
  log: Logger
  events: TypedEvents<LocalSyncEvents>
  links: Links
  /** References written empty while what they name has no record here. */
  awaiting: AwaitedReferences
  /** The local records as matching sees them. */
  matches: MatchIndex
  rules: PeerRules
  rows: RowReader
  groups: Groups
}

/** Store edits taken in from the local system: the projector skips them. */
export const FROM_LOCAL_SYSTEM = { fromLocalSystem: true } as const

/** Which record a problem or a pending read is about: its type and key. */
export function recordId(entity: EntityMapping, key: string): string {
  return `${entity.type}\u0000${key}`
}

export type { BadRow }
