// What a daemon process uses, as the soak (test/soak.test.ts) watches it: resident memory
// and open file descriptors from /proc (Linux), and the figures the daemon's own /metrics
// gives (prom-client's process and Node.js collectors, prefixed `objectsync_`).
import { readFileSync, readdirSync } from 'node:fs'
import { request } from 'node:http'

export interface ProcessUsage {
  rssBytes: number
  fds: number
}

/** VmRSS and the count of /proc/PID/fd entries; undefined once the process is gone. */
export function readProcessUsage(pid: number): ProcessUsage | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const rssKiB = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]
    if (rssKiB === undefined) return undefined // a zombie has no VmRSS
    return { rssBytes: Number(rssKiB) * 1024, fds: readdirSync(`/proc/${pid}/fd`).length }
  } catch {
    return undefined
  }
}

export interface DaemonMetrics {
  heapUsedBytes: number | undefined
  /** What V8 holds for its heap, used or not. */
  heapTotalBytes: number | undefined
  /** Memory outside the JS heap that V8 knows of: buffers, and Automerge's wasm memory. */
  externalBytes: number | undefined
  cpuSeconds: number | undefined
  activeHandles: number | undefined
  /** Peers with an open sync session. */
  peersConnected: number | undefined
}

/**
 * Scrapes the daemon's /metrics. A connection of its own, closed after the answer, so that
 * no kept-alive socket of ours shows among the daemon's descriptors afterwards.
 */
export async function scrapeMetrics(apiPort: number, token: string): Promise<DaemonMetrics> {
  const text = await new Promise<string>((resolve, reject) => {
    const call = request(
      {
        host: '127.0.0.1',
        port: apiPort,
        path: '/metrics',
        agent: false,
        headers: { authorization: `Bearer ${token}`, connection: 'close' },
        timeout: 5_000,
      },
      (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (body += chunk))
        response.on('end', () =>
          response.statusCode === 200
            ? resolve(body)
            : reject(new Error(`/metrics answered ${response.statusCode}`)),
        )
        response.on('error', reject)
      },
    )
    call.on('timeout', () => call.destroy(new Error('/metrics did not answer within 5 s')))
    call.on('error', reject)
    call.end()
  })
  const sums = sumsByName(text)
  return {
    heapUsedBytes: sums.get('objectsync_nodejs_heap_size_used_bytes'),
    heapTotalBytes: sums.get('objectsync_nodejs_heap_size_total_bytes'),
    externalBytes: sums.get('objectsync_nodejs_external_memory_bytes'),
    cpuSeconds: sums.get('objectsync_process_cpu_seconds_total'),
    activeHandles: sums.get('objectsync_nodejs_active_handles_total'),
    peersConnected: sums.get('objectsync_peer_connected'),
  }
}

/** Prometheus text format: each metric's samples summed over their labels. */
function sumsByName(text: string): Map<string, number> {
  const sums = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][\w:]*)(?:\{.*\})?\s+(\S+)/.exec(line)
    if (match === null) continue
    const value = Number(match[2])
    if (Number.isFinite(value)) sums.set(match[1]!, (sums.get(match[1]!) ?? 0) + value)
  }
  return sums
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}
