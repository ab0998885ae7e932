// The storage edge: an ordered key-value store with atomic batches. The object store
// knows only this interface; LevelDB and an in-memory map implement it and pass one
// conformance suite (test/store/storage-conformance.ts).

export type StorageOp =
  { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }

export interface RangeOptions {
  /** Inclusive lower bound. */
  gte?: string
  /** Exclusive upper bound. */
  lt?: string
  limit?: number
  reverse?: boolean
}

export interface WriteOptions {
  /** Flush to the disk (fsync) before resolving: survives power loss, not only kill -9. */
  sync?: boolean
}

export interface StorageAdapter {
  open(): Promise<void>
  close(): Promise<void>
  get(key: string): Promise<Uint8Array | undefined>
  getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]>
  /** Applies every op or none. Once it resolves, the write survives a crash of the process. */
  write(ops: readonly StorageOp[], options?: WriteOptions): Promise<void>
  /** Entries in key order (UTF-8 code unit order of the keys). */
  range(options: RangeOptions): AsyncIterable<[string, Uint8Array]>
}

/** The smallest key greater than every key that starts with `prefix`. */
export function prefixEnd(prefix: string): string {
  return prefix + '\uffff'
}
