// The LevelDB StorageAdapter (`level`, i.e. classic-level on Node). One process at a
// time may hold the database: LevelDB's own lock file refuses a second opener, which is
// reported as STORE_IN_USE so the CLI can say "talk to the running daemon instead".
import { Level } from 'level'
import { ObjectSyncError } from '../errors.ts'
import type { RangeOptions, StorageAdapter, StorageOp, WriteOptions } from './storage.ts'

export class LevelStorage implements StorageAdapter {
  private readonly db: Level<string, Uint8Array>

  constructor(readonly location: string) {
    this.db = new Level<string, Uint8Array>(location, {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
    })
  }

  async open(): Promise<void> {
    try {
      await this.db.open()
    } catch (error) {
      if (hasCode(error, 'LEVEL_LOCKED')) {
        throw new ObjectSyncError(
          'STORE_IN_USE',
          `the store at ${this.location} is in use by another daemon; stop it, or talk to it through its HTTP API`,
          { cause: error },
        )
      }
      throw new ObjectSyncError('STORE_IO', `could not open the store at ${this.location}`, {
        cause: error,
      })
    }
  }

  async close(): Promise<void> {
    await this.db.close()
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.guard(() => this.db.get(key))
  }

  async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    return this.guard(() => this.db.getMany(keys as string[]))
  }

  async write(ops: readonly StorageOp[], options: WriteOptions = {}): Promise<void> {
    if (ops.length === 0) return
    // A chained batch, not db.batch(array): abstract-level's array form copies and
    // re-checks every op and measured ≈ 4× slower (26 against 6.5 µs per new object).
    await this.guard(async () => {
      const batch = this.db.batch()
      try {
        for (const op of ops) {
          if (op.type === 'put') batch.put(op.key, op.value)
          else batch.del(op.key)
        }
      } catch (error) {
        await batch.close()
        throw error
      }
      await batch.write({ sync: options.sync ?? false })
    })
  }

  async *range(options: RangeOptions): AsyncIterable<[string, Uint8Array]> {
    const iterator = this.db.iterator(levelRange(options))
    try {
      for (;;) {
        // nextv reads many entries per call: a range scan is ~15× faster than next().
        const entries = await this.guard(() => iterator.nextv(1000))
        if (entries.length === 0) return
        yield* entries
      }
    } finally {
      await iterator.close()
    }
  }

  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation()
    } catch (error) {
      if (hasCode(error, 'LEVEL_DATABASE_NOT_OPEN')) {
        throw new ObjectSyncError('STORE_CLOSED', `the store at ${this.location} is not open`, {
          cause: error,
        })
      }
      throw new ObjectSyncError('STORE_IO', `storage at ${this.location} failed`, { cause: error })
    }
  }
}

function levelRange(options: RangeOptions): Record<string, unknown> {
  const range: Record<string, unknown> = {}
  if (options.gte !== undefined) range.gte = options.gte
  if (options.lt !== undefined) range.lt = options.lt
  if (options.limit !== undefined) range.limit = options.limit
  if (options.reverse !== undefined) range.reverse = options.reverse
  return range
}

/** Whether `error` or any error in its cause chain carries `code` (abstract-level nests them). */
function hasCode(error: unknown, code: string): boolean {
  let current: unknown = error
  while (typeof current === 'object' && current !== null) {
    if ('code' in current && current.code === code) return true
    current = 'cause' in current ? current.cause : undefined
  }
  return false
}
