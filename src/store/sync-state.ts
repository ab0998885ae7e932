// Typed access to the store's sync state: the small values other parts keep beside the
// documents (a peer's cursor, a local record's link), in the store's `s/<key>` space and
// written atomically with it.
//
// Each owner declares its keys once, in a table at the top of its own keys module, the
// way keys.ts lays out the store's own keys:
//
//   const cursor = syncStateFamily('cursor/', countValue)        // cursor/<peer> → count
//   await cursor.read(store, peer)                                // number | undefined
//   await store.updateSyncState([cursor.entry(peer, 42), other.entry(id, undefined)])
//
// Nobody outside this module builds a key string or encodes a value by hand. A value
// that is there but can't be read back (cut short, written by hand) is never taken for a
// wrong value: reading it throws SYNC_STATE_CORRUPT naming the key, unless the caller
// says `{ unreadable: 'absent' }` because it can safely start over without it (a cursor
// that only costs a resend).

import { ObjectSyncError } from '../errors.ts'

/** The part of the object store that sync state needs. */
export interface SyncStateStore {
  getSyncState(key: string): Promise<Uint8Array | undefined>
  scanSyncState(prefix: string): AsyncIterable<[string, Uint8Array]>
  updateSyncState(entries: readonly SyncStateEntry[]): Promise<void>
}

/** One put (a value) or delete (`undefined`) for `updateSyncState`. */
export type SyncStateEntry = readonly [string, Uint8Array | undefined]

export interface SyncStateCodec<T> {
  encode(value: T): Uint8Array
  /** `undefined` when the bytes are not a value of this kind. */
  decode(bytes: Uint8Array): T | undefined
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** UTF-8 text, any string. */
export const textValue: SyncStateCodec<string> = {
  encode: (value) => encoder.encode(value),
  decode: (bytes) => decoder.decode(bytes),
}

/** A non-negative safe integer, as decimal text (feed sequences, cursors, counts). */
export const countValue: SyncStateCodec<number> = {
  encode: (value) => {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(`a sync-state count must be a non-negative safe integer, not ${value}`)
    }
    return encoder.encode(String(value))
  },
  decode: (bytes) => {
    const text = decoder.decode(bytes)
    if (!/^\d{1,16}$/.test(text)) return undefined
    const value = Number(text)
    return Number.isSafeInteger(value) ? value : undefined
  },
}

/** A key whose presence is the value ("initialized"); stored as the text '1', read from any. */
export const presenceValue: SyncStateCodec<true> = {
  encode: () => encoder.encode('1'),
  decode: () => true,
}

/** A yes/no mark, one byte (1 or 0). */
export const flagValue: SyncStateCodec<boolean> = {
  encode: (value) => Uint8Array.of(value ? 1 : 0),
  decode: (bytes) => (bytes.length === 1 && bytes[0]! <= 1 ? bytes[0] === 1 : undefined),
}

/**
 * A JSON value. `check` tells a value of the expected shape from anything else that
 * parses; values written by this program are trusted to have it, so the check may be
 * shallow.
 */
export function jsonValue<T>(check: (value: unknown) => value is T): SyncStateCodec<T> {
  return {
    encode: (value) => encoder.encode(JSON.stringify(value)),
    decode: (bytes) => {
      try {
        const value: unknown = JSON.parse(decoder.decode(bytes))
        return check(value) ? value : undefined
      } catch {
        return undefined
      }
    },
  }
}

/** What a read does with a value that is there but can't be decoded. */
export interface ReadOptions {
  /** 'throw' (the default): SYNC_STATE_CORRUPT; 'absent': as if it were not there. */
  unreadable?: 'throw' | 'absent'
}

function decodeOrFail<T>(
  codec: SyncStateCodec<T>,
  key: string,
  bytes: Uint8Array | undefined,
  options: ReadOptions,
): T | undefined {
  if (bytes === undefined) return undefined
  const value = codec.decode(bytes)
  if (value === undefined && options.unreadable !== 'absent') {
    throw new ObjectSyncError('SYNC_STATE_CORRUPT', `sync state ${key}: unreadable value`, {
      details: { key, bytes: bytes.length },
    })
  }
  return value
}

/** One fixed key with a value of type T. */
export class SyncStateKey<T> {
  constructor(
    readonly key: string,
    private readonly codec: SyncStateCodec<T>,
  ) {}

  async read(store: SyncStateStore, options: ReadOptions = {}): Promise<T | undefined> {
    return decodeOrFail(this.codec, this.key, await store.getSyncState(this.key), options)
  }

  async write(store: SyncStateStore, value: T | undefined): Promise<void> {
    await store.updateSyncState([this.entry(value)])
  }

  /** A put (or with `undefined` a delete) to pass to `updateSyncState` with others. */
  entry(value: T | undefined): SyncStateEntry {
    return [this.key, value === undefined ? undefined : this.codec.encode(value)]
  }
}

/** Keys `<prefix><name>`, one per name (a peer, an object, a record), with values of type T. */
export class SyncStateFamily<Name extends string, T> {
  constructor(
    readonly prefix: string,
    private readonly codec: SyncStateCodec<T>,
  ) {}

  key(name: Name): string {
    return this.prefix + name
  }

  async read(store: SyncStateStore, name: Name, options: ReadOptions = {}): Promise<T | undefined> {
    const key = this.key(name)
    return decodeOrFail(this.codec, key, await store.getSyncState(key), options)
  }

  async has(store: SyncStateStore, name: Name): Promise<boolean> {
    return (await store.getSyncState(this.key(name))) !== undefined
  }

  async write(store: SyncStateStore, name: Name, value: T | undefined): Promise<void> {
    await store.updateSyncState([this.entry(name, value)])
  }

  entry(name: Name, value: T | undefined): SyncStateEntry {
    return [this.key(name), value === undefined ? undefined : this.codec.encode(value)]
  }

  /**
   * Every entry of the family in key order, or only those whose name starts with
   * `within`. An entry that can't be decoded throws, or with `unreadable: 'absent'` is
   * skipped.
   */
  async *scan(
    store: SyncStateStore,
    options: ReadOptions & { within?: string } = {},
  ): AsyncIterable<[Name, T]> {
    for await (const [key, bytes] of store.scanSyncState(this.prefix + (options.within ?? ''))) {
      const value = decodeOrFail(this.codec, key, bytes, options)
      if (value !== undefined) yield [key.slice(this.prefix.length) as Name, value]
    }
  }
}

export function syncStateKey<T>(key: string, codec: SyncStateCodec<T>): SyncStateKey<T> {
  return new SyncStateKey(key, codec)
}

export function syncStateFamily<Name extends string, T>(
  prefix: string,
  codec: SyncStateCodec<T>,
): SyncStateFamily<Name, T> {
  return new SyncStateFamily(prefix, codec)
}
