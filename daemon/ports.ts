// The ports a daemon is configured to listen on, tried before anything starts: one taken
// by another program (often a second daemon on the same config) is one clear line naming
// the port and the setting, rather than libp2p's or fastify's error after the store and
// the local system have started.
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { ObjectSyncError } from '../src/errors.ts'
import type { InstanceConfig } from './config.ts'
import { RUNTIME_FILE } from './data-files.ts'

interface Binding {
  host: string
  port: number
  setting: string
}

/**
 * A daemon already running for this data folder (its daemon.json names a live process):
 * said as such, rather than as its ports being taken.
 */
export async function refuseSecondDaemon(dir: string): Promise<void> {
  let pid: number | undefined
  try {
    pid = (JSON.parse(await readFile(join(dir, RUNTIME_FILE), 'utf8')) as { pid?: number }).pid
  } catch {
    return // none, or unreadable: the store's lock still says it
  }
  if (typeof pid !== 'number' || pid === process.pid || !isAlive(pid)) return
  throw new ObjectSyncError(
    'STORE_IN_USE',
    `a daemon for ${dir} is already running (pid ${pid}); stop it first, or give another --dir`,
    { details: { pid } },
  )
}

/** Whether a process of this pid runs (one of another user's counts). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export async function refuseTakenPorts(
  config: InstanceConfig,
  file = 'config.json',
): Promise<void> {
  const bindings: Binding[] = config.listen.flatMap((address, index) => {
    const tcp = tcpBinding(address)
    return tcp === undefined ? [] : [{ ...tcp, setting: `${file} listen.${index} (${address})` }]
  })
  if (config.api.port !== 0) {
    bindings.push({ host: '127.0.0.1', port: config.api.port, setting: `${file} api.port` })
  }
  for (const binding of bindings) {
    const problem = await tryBinding(binding)
    if (problem !== undefined) {
      throw new ObjectSyncError(
        'PORT_IN_USE',
        `${binding.host}:${binding.port} ${problem}; change ${binding.setting}, or stop what holds it`,
        { details: { host: binding.host, port: binding.port, setting: binding.setting } },
      )
    }
  }
}

/** An IP address and a fixed TCP port of a listen multiaddr; undefined for anything else. */
function tcpBinding(address: string): { host: string; port: number } | undefined {
  try {
    const [host, transport] = multiaddr(address).getComponents()
    if (host === undefined || transport?.name !== 'tcp') return undefined
    if (host.name !== 'ip4' && host.name !== 'ip6') return undefined
    const port = Number(transport.value)
    return port === 0 ? undefined : { host: host.value!, port }
  } catch {
    return undefined
  }
}

/** Why the port can't be listened on (in use, not allowed), or undefined when it can. */
function tryBinding({ host, port }: Binding): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (error: NodeJS.ErrnoException) =>
      resolve(
        error.code === 'EADDRINUSE'
          ? 'is in use by another program'
          : error.code === 'EACCES'
            ? 'may not be listened on by this user'
            : error.code === 'EADDRNOTAVAIL'
              ? 'is not an address of this machine'
              : `can't be listened on (${error.code ?? error.message})`,
      ),
    )
    // As libp2p listens: an IPv6 address for IPv6 only.
    server.listen({ host, port, exclusive: true, ipv6Only: host.includes(':') }, () =>
      server.close(() => resolve(undefined)),
    )
  })
}
