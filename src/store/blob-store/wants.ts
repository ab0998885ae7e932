// Content a file object here names and this instance lacks, kept across restarts so the
// sync knows what to ask peers for: sha256 → the id of the object that names it.
import type { StorageAdapter } from '../storage.ts'
import { isSha256 } from './manifest.ts'
import { WANT_PREFIX, shaOfKey, under, wantKey } from './keys.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class WantList {
  constructor(private readonly storage: StorageAdapter) {}

  async want(sha: string, object: string): Promise<void> {
    if (!isSha256(sha)) return
    await this.storage.write([{ type: 'put', key: wantKey(sha), value: encoder.encode(object) }])
  }

  async unwant(sha: string): Promise<void> {
    await this.storage.write([{ type: 'del', key: wantKey(sha) }])
  }

  async wanted(): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    for await (const [key, value] of this.storage.range(under(WANT_PREFIX))) {
      out.set(shaOfKey(WANT_PREFIX, key), decoder.decode(value))
    }
    return out
  }
}
