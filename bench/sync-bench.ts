// The first-sync benchmark: two instances as separate processes (real LevelDB stores,
// libp2p over loopback TCP, sealed frames). A holds N persons, B is empty; B dials A and
// the time runs from the dial until B holds all N and A has said it is caught up.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { encodePairKey, generatePairKey } from '../src/crypto/index.ts'
import { loadOrCreateIdentity } from '../src/net/index.ts'

export interface SyncBenchResult {
  persons: number
  firstSyncSeconds: number
  facetsPerSecond: number
  /** Sealed frames on the wire during the first sync (length prefixes included), MB. */
  wireMbAtoB: number
  wireMbBtoA: number
  wireBytesPerPerson: number
  peakRssMbA: number
  peakRssMbB: number
  /** Store to store, A's edit to B's store, after the first sync (ms). */
  editLatencyP50Ms: number
  editLatencyP99Ms: number
  editsMeasured: number
}

const root = fileURLToPath(new URL('..', import.meta.url))

function lines(child: ChildProcess): (prefix: string) => Promise<string> {
  let buffer = ''
  const seen: string[] = []
  const waiting: { prefix: string; resolve: (line: string) => void }[] = []
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString()
    const parts = buffer.split('\n')
    buffer = parts.pop()!
    seen.push(...parts)
    for (const wait of [...waiting]) {
      const line = seen.find((candidate) => candidate.startsWith(wait.prefix))
      if (line !== undefined) {
        waiting.splice(waiting.indexOf(wait), 1)
        wait.resolve(line)
      }
    }
  })
  return (prefix) =>
    new Promise((resolve, reject) => {
      const line = seen.find((candidate) => candidate.startsWith(prefix))
      if (line !== undefined) return resolve(line)
      waiting.push({ prefix, resolve })
      child.once('exit', (code) =>
        reject(new Error(`${prefix}: peer exited (${code}): ${stderr.slice(-2000)}`)),
      )
    })
}

function peer(args: string[]): { child: ChildProcess; next: (prefix: string) => Promise<string> } {
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
  return { child, next: lines(child) }
}

export async function runSyncBench(count: number): Promise<SyncBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'objectsync-bench-sync-'))
  const [dirA, dirB] = [join(dir, 'a'), join(dir, 'b')]
  mkdirSync(dirA)
  mkdirSync(dirB)
  const [idA, idB] = [
    (await loadOrCreateIdentity(join(dirA, 'keys'))).id,
    (await loadOrCreateIdentity(join(dirB, 'keys'))).id,
  ]
  const key = encodePairKey(generatePairKey()).trim()
  const a = peer([dirA, 'a', idB, '-', key, String(count), '0'])
  try {
    const address = (await a.next('ready ')).slice('ready '.length)
    const b = peer([dirB, 'b', idA, address, key, '0', String(count)])
    try {
      const [seconds, bytesIn, bytesOut] = (await b.next('synced '))
        .slice('synced '.length)
        .split(' ')
        .map(Number) as [number, number, number]
      a.child.kill('SIGUSR2')
      await a.next('edited')
      // Let the last edits land before asking B for its figures.
      await new Promise((resolve) => setTimeout(resolve, 200))
      b.child.kill('SIGTERM')
      const [, p50, p99, measured] = (await b.next('latency ')).split(' ').map(Number) as [
        number,
        number,
        number,
        number,
      ]
      a.child.kill('SIGTERM')
      const rssB = Number((await b.next('rss ')).slice(4))
      const rssA = Number((await a.next('rss ')).slice(4))
      await Promise.all([exited(a.child), exited(b.child)])
      return {
        persons: count,
        firstSyncSeconds: seconds,
        facetsPerSecond: Math.round(count / seconds),
        wireMbAtoB: Math.round(bytesIn / 1e5) / 10,
        wireMbBtoA: Math.round(bytesOut / 1e5) / 10,
        wireBytesPerPerson: Math.round(bytesIn / count),
        peakRssMbA: rssA,
        peakRssMbB: rssB,
        editLatencyP50Ms: p50,
        editLatencyP99Ms: p99,
        editsMeasured: measured,
      }
    } finally {
      b.child.kill('SIGKILL')
    }
  } finally {
    a.child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 5000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}
