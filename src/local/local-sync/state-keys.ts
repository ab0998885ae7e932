// Every key the local sync keeps in the store's sync state, in one table (as
// store/keys.ts lays out the store's own keys). Nothing else builds a `local/…` key or
// encodes a value by hand. The bytes are exactly what earlier versions wrote, so an
// existing data folder keeps working: counts as decimal text, ids as text, JSON as JSON.
//
//   key                          value     meaning
//   local/changes                count     the local change log's last sequence taken in
//   local/projected              count     the store feed's last sequence projected
//   local/initialized            '1'       the first full read of every table is done
//   local/compare-needed         '1'       the change capture was lost: every table is to be
//                                          compared with what was last seen (kept until done)
//   local/link/<type>/<key>      text      a record → its object's id
//   local/object/<id>            JSON      an object → its record and the row as last seen
//   local/origin/<id>            text      the peer whose object became this record
//   local/inserted/<id>          text      the key the local system gave the row the daemon
//                                          inserted for this object (assigned-keys.ts)
//   local/merged/<id>            text      unified before merges were data: the id kept (read only)
//   local/review/<id>            JSON      waits for a person: { type, candidates, from?, rows? }
//   local/retry/<id>             sender    writing the object failed: tried at housekeeping
//   local/content-wait/<id>      sender    a file object waiting for its bytes
//   local/declined/<id>          text      kept out by this peer's `create: export`
//   local/groups/<key>           JSON      the record's groups as last announced, sorted
//   local/dropping/<type>/<key> text      a second row of one record, unlinked, to remove
//                                          (the object it stood for): removed at start
//   local/awaiting/<ref>/<id>    sender    the row of <id> names <ref>, which has no record
//                                          here yet: written again once it has one
//
// A sender is the peer the change came from, stored as '' for this instance's own.
import type { InstanceId, ObjectId, ObjectType } from '../../model/index.ts'
import {
  countValue,
  jsonValue,
  presenceValue,
  syncStateFamily,
  syncStateKey,
  textValue,
  type SyncStateCodec,
} from '../../store/index.ts'
import type { RowSnapshot } from './row-snapshot.ts'

/** A reference waiting for a record: `<referenced id>/<referrer id>` (ids hold no slash). */
export type AwaitingName = `${ObjectId}/${ObjectId}`

/** A record's name among the links: `<type>/<key>` (the key may hold slashes). */
export type LinkName = `${ObjectType}/${string}`

export function linkName(type: ObjectType, key: string): LinkName {
  return `${type}/${key}`
}

/** The type and key a link name is made of. */
export function parseLinkName(name: LinkName): { type: ObjectType; key: string } {
  const slash = name.indexOf('/')
  return { type: name.slice(0, slash) as ObjectType, key: name.slice(slash + 1) }
}

/** An object's link to its record (`local/object/<id>`). */
export interface ObjectLink {
  key: string
  /**
   * The row's mapped columns and custom fields as the daemon last wrote or read them:
   * what is different now is a local edit. Absent when the row was removed or must be
   * read again in full (a reference in it could not be resolved yet).
   */
  seen?: RowSnapshot | undefined
}

/** An object waiting for a person to say which local record it is. */
export interface ReviewEntry {
  type: ObjectType
  candidates: string[]
  /** The peer that sent it; absent: made here. */
  from?: InstanceId
  /**
   * The candidates are rows the local system's users made, each standing for an object of
   * one merged group (keyed by its survivor): which one is the record, or are they two?
   */
  rows?: true
}

/** The peer a change came from; undefined: this instance. */
export interface Sender {
  from: InstanceId | undefined
}

const senderValue: SyncStateCodec<Sender> = {
  encode: ({ from }) => textValue.encode(from ?? ''),
  decode: (bytes) => {
    const text = textValue.decode(bytes)
    if (text === undefined) return undefined
    return { from: text === '' ? undefined : (text as InstanceId) }
  },
}

const objectIdValue = textValue as SyncStateCodec<ObjectId>
const instanceIdValue = textValue as SyncStateCodec<InstanceId>

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const isObjectLink = (value: unknown): value is ObjectLink =>
  isObject(value) && typeof value.key === 'string'

const isReviewEntry = (value: unknown): value is ReviewEntry =>
  isObject(value) && typeof value.type === 'string' && Array.isArray(value.candidates)

const isGroupList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((group) => typeof group === 'string')

/** The local sync's sync state; see the table at the top. */
export const localState = {
  changesCursor: syncStateKey('local/changes', countValue),
  projectedCursor: syncStateKey('local/projected', countValue),
  initialized: syncStateKey('local/initialized', presenceValue),
  compareNeeded: syncStateKey('local/compare-needed', presenceValue),
  link: syncStateFamily<LinkName, ObjectId>('local/link/', objectIdValue),
  object: syncStateFamily<ObjectId, ObjectLink>('local/object/', jsonValue(isObjectLink)),
  origin: syncStateFamily<ObjectId, InstanceId>('local/origin/', instanceIdValue),
  inserted: syncStateFamily<ObjectId, string>('local/inserted/', textValue),
  merged: syncStateFamily<ObjectId, ObjectId>('local/merged/', objectIdValue),
  review: syncStateFamily<ObjectId, ReviewEntry>('local/review/', jsonValue(isReviewEntry)),
  retry: syncStateFamily<ObjectId, Sender>('local/retry/', senderValue),
  contentWait: syncStateFamily<ObjectId, Sender>('local/content-wait/', senderValue),
  declined: syncStateFamily<ObjectId, InstanceId>('local/declined/', instanceIdValue),
  groups: syncStateFamily<string, string[]>('local/groups/', jsonValue(isGroupList)),
  dropping: syncStateFamily<LinkName, ObjectId>('local/dropping/', objectIdValue),
  awaiting: syncStateFamily<AwaitingName, Sender>('local/awaiting/', senderValue),
} as const
