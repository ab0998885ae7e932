// The two benchmark instances of the first-sync benchmarks as processes of their own
// (bench/sync-peer.ts): their folders and identities, starting one, and waiting for it
// to exit.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { encodePairKey, generatePairKey } from '../src/crypto/index.ts'
import { loadOrCreateIdentity } from '../src/net/index.ts'
import { childLines } from './child-lines.ts'

/** A running bench/sync-peer.ts and the lines it prints, awaited by prefix. */
export interface BenchPeer {
  child: ChildProcess
  next: (prefix: string) => Promise<string>
}

const root = fileURLToPath(new URL('..', import.meta.url))

export function spawnPeer(args: string[]): BenchPeer {
  // BENCH_PROFILE=DIR writes a CPU profile of each side into DIR.
  const profile = process.env.BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : []
  const child = spawn(
    process.execPath,
    [...profile, '--import', 'tsx', 'bench/sync-peer.ts', ...args],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  return { child, next: childLines(child) }
}

/** Two instance folders with identities, and the key that pairs them. */
export async function instances(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const [dirA, dirB] = [join(dir, 'a'), join(dir, 'b')]
  mkdirSync(dirA)
  mkdirSync(dirB)
  const [idA, idB] = [
    (await loadOrCreateIdentity(join(dirA, 'keys'))).id,
    (await loadOrCreateIdentity(join(dirB, 'keys'))).id,
  ]
  const key = encodePairKey(generatePairKey()).trim()
  return { dir, dirA, dirB, idA, idB, key }
}

/** Resolves when the child has exited, or after 5 s whatever it does. */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 5000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}
