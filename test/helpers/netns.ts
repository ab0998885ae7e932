// Two offices behind NAT routers, built from Linux network namespaces (root only):
//
//   hostA 10.0.1.2 ── natA ── 198.51.100.1 ┐
//                                           ├─ wan: bridge 198.51.100.10 (the relay's host)
//   hostB 10.0.2.2 ── natB ── 198.51.100.2 ┘
//
// Each router masquerades its office behind its wan address (nftables) and drops every
// connection the wan side opens to it or through it: only replies to what its office
// opened come back, as at a home or office router. The wan has no route into the offices.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'

export const RELAY_IP = '198.51.100.10'
export const NAT_A_PUBLIC = '198.51.100.1'
export const NAT_B_PUBLIC = '198.51.100.2'

export interface Offices {
  /** Namespace names. */
  wan: string
  natA: string
  natB: string
  hostA: string
  hostB: string
  /** Removes every namespace (and with them their links). */
  remove(): void
}

/** Why namespaces with NAT can't be built here; undefined when they can. */
export function whyNoNamespaces(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux'
  if (process.getuid?.() !== 0) return 'not root'
  for (const [command, args] of [
    ['ip', ['netns', 'list']],
    ['nft', ['--version']],
    ['tcpdump', ['--version']],
  ] as const) {
    try {
      execFileSync(command, args, { stdio: 'ignore' })
    } catch {
      return `${command} is missing (.ci/run installs it)`
    }
  }
  const probe = `osprobe-${randomBytes(3).toString('hex')}`
  try {
    run('ip', 'netns', 'add', probe)
    run('ip', 'netns', 'del', probe)
  } catch (error) {
    return `network namespaces can't be created here: ${(error as Error).message.split('\n')[0]}`
  }
  return undefined
}

export function run(command: string, ...args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] })
}

/** `command` run inside namespace `ns`. */
export function inNamespace(ns: string, command: string, ...args: string[]): string {
  return run('ip', 'netns', 'exec', ns, command, ...args)
}

export function buildOffices(): Offices {
  const tag = randomBytes(2).toString('hex')
  const names = ['wan', 'natA', 'natB', 'hostA', 'hostB'] as const
  const ns = Object.fromEntries(names.map((name) => [name, `os${tag}-${name}`])) as Record<
    (typeof names)[number],
    string
  >
  const remove = () => {
    for (const name of names) {
      try {
        run('ip', 'netns', 'del', ns[name])
      } catch {
        // not made yet
      }
    }
  }
  try {
    for (const name of names) {
      run('ip', 'netns', 'add', ns[name])
      run('ip', '-n', ns[name], 'link', 'set', 'lo', 'up')
    }
    run('ip', '-n', ns.wan, 'link', 'add', 'br0', 'type', 'bridge')
    run('ip', '-n', ns.wan, 'addr', 'add', `${RELAY_IP}/24`, 'dev', 'br0')
    run('ip', '-n', ns.wan, 'link', 'set', 'br0', 'up')
    // A veth pair named uniquely in the root namespace, each end moved and renamed.
    let pairs = 0
    const link = (one: [string, string, string?], other: [string, string, string?]) => {
      const [a, b] = [`os${tag}p${pairs}a`, `os${tag}p${pairs++}b`]
      run('ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b)
      for (const [end, [namespace, name, address]] of [
        [a, one],
        [b, other],
      ] as const) {
        run('ip', 'link', 'set', end, 'netns', namespace)
        run('ip', '-n', namespace, 'link', 'set', end, 'name', name)
        if (address !== undefined) run('ip', '-n', namespace, 'addr', 'add', address, 'dev', name)
        run('ip', '-n', namespace, 'link', 'set', name, 'up')
      }
    }
    link([ns.natA, 'wan0', `${NAT_A_PUBLIC}/24`], [ns.wan, 'a0'])
    link([ns.natB, 'wan0', `${NAT_B_PUBLIC}/24`], [ns.wan, 'b0'])
    run('ip', '-n', ns.wan, 'link', 'set', 'a0', 'master', 'br0')
    run('ip', '-n', ns.wan, 'link', 'set', 'b0', 'master', 'br0')
    link([ns.hostA, 'lan0', '10.0.1.2/24'], [ns.natA, 'lan0', '10.0.1.1/24'])
    link([ns.hostB, 'lan0', '10.0.2.2/24'], [ns.natB, 'lan0', '10.0.2.1/24'])
    run('ip', '-n', ns.hostA, 'route', 'add', 'default', 'via', '10.0.1.1')
    run('ip', '-n', ns.hostB, 'route', 'add', 'default', 'via', '10.0.2.1')
    for (const router of [ns.natA, ns.natB]) {
      inNamespace(router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1')
      execFileSync('ip', ['netns', 'exec', router, 'nft', '-f', '-'], { input: ROUTER_RULES })
    }
  } catch (error) {
    remove()
    throw error
  }
  return { ...ns, remove }
}

const ROUTER_RULES = `
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" masquerade
  }
}
table inet filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan0" oifname "wan0" accept
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "wan0" ct state new drop
  }
}
`
