// An in-memory StorageAdapter for fast unit tests. Keys are kept sorted so that range
// reads behave exactly as LevelDB's do.
import { ObjectSyncError } from '../errors.ts'
import type { RangeOptions, StorageAdapter, StorageOp } from './storage.ts'

export class MemoryStorage implements StorageAdapter {
  private readonly entries = new Map<string, Uint8Array>()
  private sortedKeys: string[] | undefined = []
  private isOpen = false

  open(): Promise<void> {
    this.isOpen = true
    return Promise.resolve()
  }

  close(): Promise<void> {
    this.isOpen = false
    return Promise.resolve()
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.whenOpen(() => copy(this.entries.get(key)))
  }

  getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    return this.whenOpen(() => keys.map((key) => copy(this.entries.get(key))))
  }

  write(ops: readonly StorageOp[]): Promise<void> {
    return this.whenOpen(() => this.apply(ops))
  }

  private apply(ops: readonly StorageOp[]): void {
    for (const op of ops) {
      if (op.type === 'put') {
        if (!this.entries.has(op.key)) this.sortedKeys = undefined
        this.entries.set(op.key, copy(op.value)!)
      } else if (this.entries.delete(op.key)) {
        this.sortedKeys = undefined
      }
    }
  }

  async *range(options: RangeOptions): AsyncIterable<[string, Uint8Array]> {
    const keys = await this.whenOpen(() => this.keysInRange(options))
    for (const key of keys) {
      const value = this.entries.get(key)
      // A key deleted while the caller iterates is skipped, as a LevelDB snapshot would not
      // show later writes either way.
      if (value !== undefined) yield [key, copy(value)!]
    }
  }

  private keysInRange(options: RangeOptions): string[] {
    this.sortedKeys ??= [...this.entries.keys()].sort(compareKeys)
    const keys = this.sortedKeys
    const start = options.gte === undefined ? 0 : lowerBound(keys, options.gte)
    const end = options.lt === undefined ? keys.length : lowerBound(keys, options.lt)
    const selected = keys.slice(start, Math.max(start, end))
    if (options.reverse) selected.reverse()
    return options.limit === undefined || options.limit < 0
      ? selected
      : selected.slice(0, options.limit)
  }

  // Errors reject the returned promise, as LevelDB's do, rather than throw synchronously.
  private whenOpen<T>(operation: () => T): Promise<T> {
    if (!this.isOpen) {
      return Promise.reject(new ObjectSyncError('STORE_CLOSED', 'memory storage is not open'))
    }
    return Promise.resolve(operation())
  }
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function lowerBound(keys: readonly string[], target: string): number {
  let low = 0
  let high = keys.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if (keys[middle]! < target) low = middle + 1
    else high = middle
  }
  return low
}

// Values are copied in and out so that a caller mutating a buffer can't change what is
// stored — LevelDB gives the same guarantee by copying into its own memory.
function copy(value: Uint8Array | undefined): Uint8Array | undefined {
  // new Uint8Array(…) copies; a Buffer's slice() would be a view of the caller's bytes.
  return value === undefined ? undefined : new Uint8Array(value)
}
