// `objectsync keygen`: a pair key file for manual pairing. The administrators pass it
// securely and each lists the other instance in peers.json with `"key": "<this file>"`.
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { encodePairKey, generatePairKey } from '../src/crypto/index.ts'

export async function keygen(dir: string, file: string): Promise<string> {
  const path = resolve(dir, file)
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  // 'wx': never overwrite a key another instance may already hold.
  await writeFile(path, encodePairKey(generatePairKey()), { mode: 0o600, flag: 'wx' })
  return path
}
