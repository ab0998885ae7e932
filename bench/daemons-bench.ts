// Benchmarks of whole daemons, each in a process of its own (bench/daemon-peer.ts):
// sustained edits replicated across three paired instances, and a cold start with N
// persons, with the bytes the store keeps on disk for them.
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { initInstance } from '../daemon/init.ts'
import type { ObjectId } from '../src/model/index.ts'
import type { DaemonRequest } from './daemon-peer.ts'
import { person } from './people.ts'
import { insertPersons } from './sync-bench.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A daemon process and its IPC requests. */
class DaemonProcess {
  private nextId = 1
  private readonly pending = new Map<
    number,
    { resolve: (answer: never) => void; reject: (error: Error) => void }
  >()

  private constructor(
    readonly child: ChildProcess,
    readonly startupSeconds: number,
  ) {
    child.on('message', (message: { id?: number; error?: string }) => {
      const waiting = message.id === undefined ? undefined : this.pending.get(message.id)
      if (waiting === undefined) return
      this.pending.delete(message.id!)
      if (message.error !== undefined) waiting.reject(new Error(message.error))
      else waiting.resolve(message as never)
    })
    child.on('exit', (code) => {
      for (const waiting of this.pending.values()) {
        waiting.reject(new Error(`the daemon process exited (${code})`))
      }
      this.pending.clear()
    })
  }

  static start(dir: string): Promise<DaemonProcess> {
    const child = fork(join(root, 'bench/daemon-peer.ts'), [dir], {
      cwd: root,
      // BENCH_PROFILE=DIR writes a CPU profile of each daemon into DIR.
      execArgv: [
        '--import',
        'tsx',
        ...(process.env.BENCH_PROFILE
          ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
          : []),
      ],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    })
    let stderr = ''
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    return new Promise((resolve, reject) => {
      child.once('message', (message: { ready?: boolean; startupSeconds: number }) => {
        if (message.ready === true) resolve(new DaemonProcess(child, message.startupSeconds))
      })
      child.once('exit', (code) =>
        reject(new Error(`the daemon in ${dir} exited (${code}): ${stderr.slice(-2000)}`)),
      )
    })
  }

  request<T>(request: DaemonRequest): Promise<T> {
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve, reject })
      this.child.send({ id, ...request })
    })
  }

  async stop(): Promise<number> {
    const { rss } = await this.request<{ rss: number }>({ cmd: 'stop' })
    return rss
  }
}

async function makeInstance(dir: string, name: string): Promise<void> {
  await initInstance(dir, { name, apiPort: 0, listen: ['/ip4/127.0.0.1/tcp/0'] })
}

async function pair(inviter: DaemonProcess, joiner: DaemonProcess): Promise<void> {
  const { token } = await inviter.request<{ token: string }>({ cmd: 'invite' })
  await joiner.request({ cmd: 'pair', token })
}

export interface MeshBenchResult {
  meshInstances: number
  /** Objects each instance edits (its own); every instance holds all of them. */
  meshObjectsEach: number
  meshEdits: number
  /** From the edits' start until every instance shows every object's last edit. */
  meshSeconds: number
  replicatedEditsPerSecond: number
  meshPeakRssMb: number[]
}

/**
 * Three daemons, each paired with the other two. Each creates `objectsEach` persons; once
 * all three hold all of them, each edits its own `rounds` times over, all at once, and the
 * clock runs until every instance shows the last round of every object.
 */
export async function runMeshBench(objectsEach: number, rounds: number): Promise<MeshBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'objectsync-bench-mesh-'))
  const names = ['north', 'south', 'east']
  const daemons: DaemonProcess[] = []
  try {
    for (const name of names) {
      await makeInstance(join(dir, name), name)
      daemons.push(await DaemonProcess.start(join(dir, name)))
    }
    const [a, b, c] = daemons as [DaemonProcess, DaemonProcess, DaemonProcess]
    await pair(a, b)
    await pair(a, c)
    await pair(b, c)
    const owned = await Promise.all(
      daemons.map(
        async (daemon, index) =>
          (
            await daemon.request<{ ids: ObjectId[] }>({
              cmd: 'seed',
              count: objectsEach,
              offset: index * objectsEach,
            })
          ).ids,
      ),
    )
    const total = objectsEach * daemons.length
    await waitFor(
      async () => {
        const counts = await Promise.all(
          daemons.map((daemon) => daemon.request<{ persons: number }>({ cmd: 'count' })),
        )
        return counts.every((count) => count.persons >= total)
      },
      120_000,
      'every instance holding every person',
    )

    const expected = Object.fromEntries(
      owned.flatMap((list, index) => list.map((id) => [id, `${names[index]!} ${rounds}`])),
    )
    // Every daemon watches for the last titles as the edits start: it looks only at
    // the objects that change, so the watching takes next to nothing from the edits.
    const began = performance.now()
    const watching = daemons.map((daemon) =>
      daemon.request({ cmd: 'await-titles', expected, timeoutMs: 300_000 }),
    )
    await Promise.all(
      daemons.map((daemon, index) =>
        daemon.request({ cmd: 'edit', ids: owned[index]!, rounds, tag: names[index]! }),
      ),
    )
    await Promise.all(watching)
    const seconds = (performance.now() - began) / 1000
    const rss = []
    for (const daemon of daemons.splice(0)) rss.push(await daemon.stop())
    const edits = total * rounds
    return {
      meshInstances: names.length,
      meshObjectsEach: objectsEach,
      meshEdits: edits,
      meshSeconds: Math.round(seconds * 100) / 100,
      replicatedEditsPerSecond: Math.round(edits / seconds),
      meshPeakRssMb: rss,
    }
  } finally {
    for (const daemon of daemons) daemon.child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}

export interface ColdStartBenchResult {
  coldStartPersons: number
  /** The first start: the local system's N rows taken in. */
  firstStartSeconds: number
  /** A later start of the same daemon, from process start to syncing (module loading included). */
  coldStartSeconds: number
  coldStartPeakRssMb: number
  /** The store folder's size per person, and the persons as JSON. */
  diskBytesPerPerson: number
  rawJsonBytesPerPerson: number
}

/** A daemon whose SQLite file holds N persons: its first start, then a cold start. */
export async function runColdStartBench(count: number): Promise<ColdStartBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'objectsync-bench-cold-'))
  try {
    await makeInstance(dir, 'cold')
    insertPersons(join(dir, 'local.db'), count)
    const first = await DaemonProcess.start(dir)
    await first.stop()
    const disk = folderBytes(join(dir, 'store'))
    const cold = await DaemonProcess.start(dir)
    const persons = (await cold.request<{ persons: number }>({ cmd: 'count' })).persons
    if (persons !== count) throw new Error(`the store holds ${persons} persons, not ${count}`)
    const rss = await cold.stop()
    let rawBytes = 0
    for (let i = 0; i < count; i++) {
      rawBytes += Buffer.byteLength(JSON.stringify({ type: 'person', fields: person(i) }))
    }
    return {
      coldStartPersons: count,
      firstStartSeconds: Math.round(first.startupSeconds * 100) / 100,
      coldStartSeconds: Math.round(cold.startupSeconds * 100) / 100,
      coldStartPeakRssMb: rss,
      diskBytesPerPerson: Math.round(disk / count),
      rawJsonBytesPerPerson: Math.round(rawBytes / count),
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function folderBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce(
    (sum, entry) =>
      sum +
      (entry.isDirectory()
        ? folderBytes(join(dir, entry.name))
        : statSync(join(dir, entry.name)).size),
    0,
  )
}

async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`no ${what} within ${timeoutMs} ms`)
    await sleep(50)
  }
}
