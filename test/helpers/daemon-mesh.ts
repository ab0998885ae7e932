// Real daemons as child processes (`objectsync start`), each in a data folder of its own
// with its embedded SQLite local system, paired by key file, for the campaigns that treat
// the daemon as a black box: the crash campaign (test/chaos.test.ts) and the soak
// (test/soak.test.ts).
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { initInstance } from '../../daemon/init.ts'
import { encodePairKey, generatePairKey } from '../../src/crypto/index.ts'
import { tempDir } from './stores.ts'

const START_TIMEOUT_MS = 30_000
const START_ATTEMPTS = 3
/** How long a daemon may take to stop after SIGTERM before it is killed and that noted. */
const STOP_TIMEOUT_MS = 30_000
const OUTPUT_KEPT_CHARS = 20_000

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface MeshDaemon {
  name: string
  dir: string
  id: string
  /** The port it listens on for peers (fixed in its config, the same after a restart). */
  port: number
  /** Its listen address, which peers dial unless something sits between them. */
  address: string
  /** The API's bearer token. */
  token: string
  process: ChildProcess | undefined
  /** The port of the running daemon's API (its config asks for any free one). */
  apiPort: number | undefined
  /** When the running process said its API listens (Date.now()). */
  startedAt: number | undefined
  starts: number
  /** The end of what its daemons printed, for a failure's message. */
  output: string
  /** What went wrong without being asked for: exits on its own, slow or unclean stops. */
  incidents: string[]
}

/** A new instance in a temporary folder, listening on loopback, with the API on any port. */
export async function createMeshDaemon(name: string, label: string): Promise<MeshDaemon> {
  const dir = tempDir(`${label}-${name}`)
  const port = await freePort()
  const address = `/ip4/127.0.0.1/tcp/${port}`
  const { id } = await initInstance(dir, { name, listen: [address], apiPort: 0 })
  return {
    name,
    dir,
    id,
    port,
    address,
    token: readFileSync(join(dir, 'api-token'), 'utf8').trim(),
    process: undefined,
    apiPort: undefined,
    startedAt: undefined,
    starts: 0,
    output: '',
    incidents: [],
  }
}

/**
 * Pairs every daemon with every other one, as pairing by key file does: a key of its own
 * per pair, and each lists the others in peers.json, sharing everything. `addressOf` is
 * where `from` dials `to` (its listen address unless, say, a cuttable link sits between).
 * Daemons read peers.json when they start.
 */
export function pairMesh(
  daemons: readonly MeshDaemon[],
  addressOf: (from: MeshDaemon, to: MeshDaemon) => string = (_from, to) => to.address,
): void {
  for (const [index, one] of daemons.entries()) {
    for (const other of daemons.slice(index + 1)) {
      const key = `${encodePairKey(generatePairKey())}\n`
      writeFileSync(join(one.dir, keyFileFor(other)), key, { mode: 0o600 })
      writeFileSync(join(other.dir, keyFileFor(one)), key, { mode: 0o600 })
    }
  }
  const share = { person: {}, organization: {}, transaction: {}, file: {} }
  for (const daemon of daemons) {
    const peers = daemons
      .filter((other) => other !== daemon)
      .map((other) => ({
        id: other.id,
        name: other.name,
        addresses: [addressOf(daemon, other)],
        key: keyFileFor(other),
        share,
      }))
    writeFileSync(join(daemon.dir, 'peers.json'), `${JSON.stringify({ peers }, null, 2)}\n`, {
      mode: 0o600,
    })
  }
}

function keyFileFor(peer: MeshDaemon): string {
  return `keys/pair-${peer.name}.key`
}

export function isRunning(daemon: MeshDaemon): boolean {
  const child = daemon.process
  return child !== undefined && child.exitCode === null && child.signalCode === null
}

/**
 * `objectsync start` as a child process; resolves once its API listens. Tried again when
 * it exits at start (its fixed port may be taken for a moment while it was down).
 */
export async function startDaemon(daemon: MeshDaemon): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const started = await startOnce(daemon)
    if (started === 'up') return
    if (attempt === START_ATTEMPTS) throw new Error(`${daemon.name} did not start: ${started}`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

/** The processes whose exit was asked for (stopDaemon); any other exit is an incident. */
const stopsAsked = new WeakSet<ChildProcess>()

/**
 * Every daemon started and not exited yet: killed when the test process exits, so that a
 * test that times out (its `finally` never runs) or a restart scheduled after the end
 * leaves no daemon behind.
 */
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** 'up', or why not. */
async function startOnce(daemon: MeshDaemon): Promise<string> {
  // MALLOC_ARENA_MAX set as bin/objectsync.js sets it, so that the daemon runs in this very
  // process (not a child of it) and a SIGKILL hits the daemon itself.
  const child = spawn(process.execPath, ['bin/objectsync.js', 'start', '--dir', daemon.dir], {
    env: { ...process.env, MALLOC_ARENA_MAX: '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  daemon.process = child
  running.add(child)
  child.once('exit', () => running.delete(child))
  daemon.apiPort = undefined
  daemon.starts++
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_KEPT_CHARS)
    daemon.output = (daemon.output + chunk.toString()).slice(-OUTPUT_KEPT_CHARS)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  let exited = false
  let up = false
  const exit = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true
      if (up && !stopsAsked.has(child)) {
        daemon.incidents.push(
          `${daemon.name} (pid ${child.pid}) exited on its own (${code ?? signal}); its log ends:\n${output.slice(-3_000)}`,
        )
      }
      resolve(`exited (${code ?? signal}): ${output.slice(-2_000)}`)
    }),
  )
  const listening = (async () => {
    const began = Date.now()
    while (!exited && daemon.apiPort === undefined) {
      if (Date.now() - began > START_TIMEOUT_MS) return `not listening after ${START_TIMEOUT_MS} ms`
      daemon.apiPort = apiPortIn(output)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    return exited ? 'exited' : ('up' as const)
  })()
  const outcome = await Promise.race([listening, exit])
  if (outcome === 'up') {
    up = true
    daemon.startedAt = Date.now()
  } else {
    await stopDaemon(daemon, 'SIGKILL')
    daemon.starts--
  }
  return outcome
}

/** The port in the daemon's `API listening` log line, once it has printed it. */
function apiPortIn(output: string): number | undefined {
  const line = output.split('\n').find((text) => text.includes('API listening'))
  const port = line === undefined ? undefined : /127\.0\.0\.1:(\d+)/.exec(line)?.[1]
  return port === undefined ? undefined : Number(port)
}

/**
 * Stops the daemon with `signal` and waits for it to exit. After SIGTERM it must exit 0
 * within STOP_TIMEOUT_MS; otherwise it is killed and the incident noted.
 */
export async function stopDaemon(daemon: MeshDaemon, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  const child = daemon.process
  daemon.process = undefined
  daemon.apiPort = undefined
  daemon.startedAt = undefined
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  stopsAsked.add(child)
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  child.kill(signal)
  if (signal === 'SIGKILL') {
    await exited
    return
  }
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), STOP_TIMEOUT_MS)
  })
  const code = await Promise.race([exited, late])
  clearTimeout(timer)
  if (code === 'late') {
    daemon.incidents.push(
      `${daemon.name} (pid ${child.pid}) did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM; its log ends:\n${daemon.output.slice(-3_000)}`,
    )
    child.kill('SIGKILL')
    await exited
  } else if (code !== 0) {
    daemon.incidents.push(
      `${daemon.name} (pid ${child.pid}) exited ${code} on SIGTERM; its log ends:\n${daemon.output.slice(-3_000)}`,
    )
  }
}
