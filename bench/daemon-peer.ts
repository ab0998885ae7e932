// One objectsync daemon as the benchmarks run it: the composition `objectsync start`
// uses (store, SQLite local system, libp2p, peer link, sync engine), in a process of its
// own, driven by the benchmark over IPC.
//   daemon-peer.ts <dir>
// Says { ready, startupSeconds } once started (seconds since the process began: a cold
// start), then answers each request { id, cmd, ... } with { id, ... } or { id, error }.
import '../src/polyfill.ts'
import { loadConfig } from '../daemon/config.ts'
import { holdMemory } from '../daemon/memory.ts'
import { startInstance } from '../daemon/instance.ts'
import { silentLogger } from '../src/log.ts'
import type { ObjectId } from '../src/model/index.ts'
import { person } from './people.ts'

// As `objectsync start` runs: its memory held as the daemon holds it.
holdMemory()

export type DaemonRequest =
  | { cmd: 'invite' }
  | { cmd: 'pair'; token: string }
  | { cmd: 'seed'; count: number; offset: number }
  | { cmd: 'count' }
  | { cmd: 'edit'; ids: ObjectId[]; rounds: number; tag: string }
  | { cmd: 'await-titles'; expected: Record<ObjectId, string>; timeoutMs: number }
  | { cmd: 'stop' }

const dir = process.argv[2]!
const instance = await startInstance(dir, await loadConfig(dir), silentLogger)
const { store, links, engine } = instance

async function handle(request: DaemonRequest): Promise<object> {
  switch (request.cmd) {
    case 'invite':
      return { token: links.createInvite(60_000) }
    case 'pair': {
      const peer = await links.pair(request.token)
      engine.connect(peer.id)
      return { peer: peer.id }
    }
    case 'seed': {
      const ids: ObjectId[] = []
      for (let start = 0; start < request.count; start += 256) {
        const end = Math.min(request.count, start + 256)
        const created = await Promise.all(
          Array.from({ length: end - start }, (_, k) =>
            store.create({ type: 'person', fields: person(request.offset + start + k) }),
          ),
        )
        ids.push(...created.map((object) => object.id))
      }
      return { ids }
    }
    case 'count':
      return { persons: await store.count('person') }
    case 'edit': {
      // Every object once per round, all of a round at once (as an import or a burst of
      // users would write): the title says which round wrote it.
      const began = performance.now()
      for (let round = 1; round <= request.rounds; round++) {
        await Promise.all(
          request.ids.map((id) =>
            store.update(id, { fields: { title: `${request.tag} ${round}` } }),
          ),
        )
      }
      return { seconds: (performance.now() - began) / 1000 }
    }
    case 'await-titles':
      return { seconds: await awaitTitles(request.expected, request.timeoutMs) }
    case 'stop':
      await instance.stop()
      return { rss: Math.round(process.resourceUsage().maxRSS / 1024) }
  }
}

/**
 * Resolves once every object shows its expected title, looking only at the objects the
 * feed names as they change (polling every object would take CPU from what is measured).
 */
async function awaitTitles(expected: Record<ObjectId, string>, timeoutMs: number): Promise<number> {
  const began = performance.now()
  const pending = new Set(Object.keys(expected) as ObjectId[])
  let wake = () => {}
  const changed = new Set<ObjectId>()
  const unsubscribe = store.on('feed', (entries) => {
    for (const entry of entries) if (pending.has(entry.object)) changed.add(entry.object)
    if (changed.size > 0) wake()
  })
  const check = async (ids: Iterable<ObjectId>) => {
    for (const id of [...ids]) {
      if ((await store.get(id))?.fields.title === expected[id]) pending.delete(id)
    }
  }
  try {
    await check(pending)
    const deadline = Date.now() + timeoutMs
    while (pending.size > 0) {
      if (changed.size === 0) {
        const timedOut = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(true), Math.max(0, deadline - Date.now()))
          wake = () => {
            clearTimeout(timer)
            resolve(false)
          }
        })
        if (timedOut) throw new Error(`${pending.size} objects without their last title`)
      }
      const ids = [...changed]
      changed.clear()
      await check(ids)
    }
    return (performance.now() - began) / 1000
  } finally {
    unsubscribe()
  }
}

process.on('message', (message: { id: number } & DaemonRequest) => {
  handle(message).then(
    (answer) => {
      process.send!({ id: message.id, ...answer })
      // exit() (not a signal death) lets --cpu-prof write its profile.
      if (message.cmd === 'stop') process.exit(0)
    },
    (error: unknown) => process.send!({ id: message.id, error: String(error) }),
  )
})
process.send!({ ready: true, startupSeconds: process.uptime() })
