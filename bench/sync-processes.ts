// The two benchmark instances of the first-sync benchmarks as processes of their own
// (bench/sync-peer.ts): their folders and identities, starting one, waiting on both, and
// stopping them for their peak RSS.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { encodePairKey, generatePairKey } from '../src/crypto/index.ts'
import { loadOrCreateIdentity } from '../src/net/index.ts'
import { isAlive } from '../daemon/ports.ts'
import { childLines, type ChildLines } from './child-lines.ts'

/** A running bench/sync-peer.ts and the lines it prints (see ChildLines). */
export interface BenchPeer extends ChildLines {
  child: ChildProcess
}

const root = fileURLToPath(new URL('..', import.meta.url))

export function spawnPeer(args: string[]): BenchPeer {
  // BENCH_PROFILE=DIR writes a CPU profile of each side into DIR.
  const profile = process.env.BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : []
  // BENCH_NODE_ARGS="--flag …" adds Node flags to each side (e.g. V8 heap sizes).
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []
  const child = spawn(process.execPath, [...nodeArgs, ...profile, ...peerEntry(), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return { child, ...childLines(child) }
}

/**
 * How to run bench/sync-peer.ts: compiled, as users run the daemon (`npm ci` builds it;
 * tsx's loader costs each process ≈ 45 MB), into a folder of this process's own under
 * dist-bench/ (benchmarks running at once don't share one), once per run, removed at the
 * end; through tsx with BENCH_FROM_SOURCE=1.
 */
function peerEntry(): string[] {
  if (process.env.BENCH_FROM_SOURCE === '1') return ['--import', 'tsx', 'bench/sync-peer.ts']
  const outDir = join(root, 'dist-bench', String(process.pid))
  if (!compiledPeer) {
    removeLeftBehind(join(root, 'dist-bench'))
    const tsc = join(root, 'node_modules/typescript/bin/tsc')
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.bench.json', '--outDir', outDir], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    process.once('exit', () => rmSync(outDir, { recursive: true, force: true }))
    compiledPeer = true
  }
  return [join(outDir, 'bench', 'sync-peer.js')]
}
let compiledPeer = false

/** Folders of benchmark processes that are gone (one killed never removed its own). */
function removeLeftBehind(dir: string): void {
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const pid = Number(name)
    if (!Number.isInteger(pid) || isAlive(pid)) continue
    rmSync(join(dir, name), { recursive: true, force: true })
  }
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

/** The two running sides of a benchmark: A holds the data, B dials it. */
export interface Peers {
  a: BenchPeer
  b: BenchPeer
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits, checking every 100 ms, until `done`; fails if either peer exits first. */
export async function pollUntil(peers: Peers, done: () => boolean, failure: string): Promise<void> {
  while (!done()) {
    if (peers.b.child.exitCode !== null || peers.a.child.exitCode !== null) {
      throw new Error(failure)
    }
    await sleep(100)
  }
}

/** Stops both peers and reads the peak RSS each reports as it exits (MB). */
export async function stopPeers({ a, b }: Peers): Promise<{ rssA: number; rssB: number }> {
  b.child.kill('SIGTERM')
  a.child.kill('SIGTERM')
  const rssB = Number((await b.next('rss ')).slice(4))
  const rssA = Number((await a.next('rss ')).slice(4))
  await Promise.all([exited(a.child), exited(b.child)])
  return { rssA, rssB }
}
