// A benchmark peer as a process of its own (Node + tsx, as bench/sync-bench.ts starts its
// peers): the lines it prints, commands on its stdin, and its peak RSS when stopped.
// Peers print "error <message>" before exiting on a failure, and "rss <MB>" on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

export interface PeerProcess {
  child: ChildProcess
  /** Takes the first line, printed before or after the call, starting with one of the prefixes. */
  next(...prefixes: string[]): Promise<string>
  /** The last line so far starting with the prefix, read or not. */
  latest(prefix: string): string | undefined
  /** Writes one command line to the peer's stdin. */
  send(line: string): void
  /** SIGTERM, then its peak RSS in MB (null if it did not say within 5 s); SIGKILL after. */
  stop(): Promise<number | null>
}

export function startPeer(script: string, args: string[]): PeerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  // A peer that dies takes its stdin with it; a late command must not crash this process.
  child.stdin.on('error', () => undefined)
  let buffer = ''
  let stderr = ''
  const unread: string[] = []
  const history: string[] = []
  const waiting: { prefixes: string[]; resolve: (line: string) => void }[] = []
  const take = (prefixes: string[]): string | undefined => {
    const at = unread.findIndex((line) => prefixes.some((prefix) => line.startsWith(prefix)))
    return at === -1 ? undefined : unread.splice(at, 1)[0]
  }
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString()
    const parts = buffer.split('\n')
    buffer = parts.pop()!
    unread.push(...parts)
    history.push(...parts)
    for (const wait of [...waiting]) {
      const line = take(wait.prefixes)
      if (line !== undefined) {
        waiting.splice(waiting.indexOf(wait), 1)
        wait.resolve(line)
      }
    }
  })
  // 'close', not 'exit': by then every line the peer printed has been read.
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))

  const next = (...prefixes: string[]) =>
    new Promise<string>((resolve, reject) => {
      const line = take(prefixes)
      if (line !== undefined) return resolve(line)
      const wait = { prefixes, resolve }
      waiting.push(wait)
      void exited.then(() => {
        if (!waiting.includes(wait)) return
        waiting.splice(waiting.indexOf(wait), 1)
        const tail = stderr.trim().split('\n').slice(-5).join('\n')
        reject(new Error(`${script} exited (${child.exitCode ?? child.signalCode}): ${tail}`))
      })
    })

  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) {
      await exited
      const line = take(['rss '])
      return line === undefined ? null : Number(line.slice('rss '.length))
    }
    child.kill('SIGTERM')
    const line = await within(5000, next('rss ')).catch(() => undefined)
    child.kill('SIGKILL')
    await exited
    return line === undefined || line === TIMED_OUT ? null : Number(line.slice('rss '.length))
  }

  const latest = (prefix: string) => history.findLast((line) => line.startsWith(prefix))
  return { child, next, latest, send: (line) => child.stdin.write(line + '\n'), stop }
}

export const TIMED_OUT = Symbol('timed out')

/** The promise's value, or TIMED_OUT if it has not settled within `ms`. */
export async function within<T>(ms: number, promise: Promise<T>): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(resolve, ms, TIMED_OUT))),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** For the peers: their peak RSS in MB. */
export function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024)
}

export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

/** What a comparison run reports when the other system did not finish. */
export interface BenchFailure {
  system: string
  persons: number
  /** What was running: A creating its persons, B's first sync, or the edits after it. */
  phase: 'create' | 'sync' | 'edits'
  timedOut: boolean
  /** The system's error text; on a time-out, how long was waited. */
  error: string
  afterSeconds: number
  /** How many persons A had created, and B held, when they stopped, as they last reported. */
  createdSoFar: number
  personsSyncedSoFar: number
  peakRssMbA: number | null
  peakRssMbB: number | null
}

/**
 * The failure, with how far each peer got and its peak RSS: from stopping it, or else (a
 * peer too busy to answer) from its last "created <n> <rss>" or "progress <n> <rss>" line.
 */
export async function failure(
  fields: Pick<BenchFailure, 'system' | 'persons' | 'phase' | 'timedOut' | 'error'>,
  began: number,
  peers: PeerProcess[],
): Promise<BenchFailure> {
  const [a, b] = peers
  const created = a?.latest('created ')?.split(' ')
  const progress = b?.latest('progress ')?.split(' ')
  const synced = b?.latest('synced ')?.split(' ')[2] ?? progress?.[1]
  const [rssA, rssB] = await Promise.all(peers.map((peer) => peer.stop()))
  const lastRss = (line: string[] | undefined) => (line?.[2] === undefined ? null : Number(line[2]))
  return {
    ...fields,
    afterSeconds: Math.round((performance.now() - began) / 100) / 10,
    createdSoFar: Number(created?.[1] ?? 0),
    personsSyncedSoFar: Number(synced ?? 0),
    peakRssMbA: rssA ?? lastRss(created),
    peakRssMbB: rssB ?? lastRss(progress),
  }
}

export function isFailure(result: object): result is BenchFailure {
  return 'timedOut' in result
}

/**
 * One comparison run: its temporary folder, its peers, the phase it is in, and its
 * failure report, which says how far each peer got.
 */
export class ComparisonRun {
  readonly dir: string
  readonly peers: PeerProcess[] = []
  phase: BenchFailure['phase'] = 'create'
  private readonly began = performance.now()

  constructor(
    private readonly system: string,
    private readonly persons: number,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `objectsync-bench-${system}-`))
  }

  start(script: string, args: string[]): PeerProcess {
    const peer = startPeer(script, args)
    this.peers.push(peer)
    return peer
  }

  /**
   * Starts side A (`script a <dir>/a <persons>`), which creates the persons, and waits
   * for its `ready …` line: the words after `ready`, or the failure.
   */
  async startSource(
    script: string,
    timeoutMs: number,
  ): Promise<{ a: PeerProcess; ready: string[] } | BenchFailure> {
    const a = this.start(script, ['a', join(this.dir, 'a'), String(this.persons)])
    const ready = await this.expect(
      a,
      'ready ',
      timeoutMs,
      `A not ready within ${timeoutMs / 1000} s`,
    )
    return typeof ready === 'string' ? { a, ready: ready.split(' ').slice(1) } : ready
  }

  /** The peer's next line starting with `prefix`; or the failure: its error line, or `late`. */
  async expect(
    peer: PeerProcess,
    prefix: string,
    timeoutMs: number,
    late: string,
  ): Promise<string | BenchFailure> {
    const line = await within(timeoutMs, peer.next(prefix, 'error '))
    if (line === TIMED_OUT) return this.fail(true, late)
    if (line.startsWith('error ')) return this.fail(false, line.slice('error '.length))
    return line
  }

  fail(timedOut: boolean, error: string): Promise<BenchFailure> {
    const { system, persons, phase } = this
    return failure({ system, persons, phase, timedOut, error }, this.began, this.peers)
  }

  /** A peer that died without saying why: its stderr is in the error's message. */
  died(error: unknown): Promise<BenchFailure> {
    return this.fail(false, error instanceof Error ? error.message : String(error))
  }

  cleanUp(): void {
    for (const peer of this.peers) peer.child.kill('SIGKILL')
    rmSync(this.dir, { recursive: true, force: true })
  }
}
