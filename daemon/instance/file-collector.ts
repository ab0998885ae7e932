// File contents nothing needs any more are removed at each housekeeping interval, as the
// local system's housekeeping runs. A failed round is logged; the next one tries again.
import { DEFAULT_HOUSEKEEPING_MS } from '../../src/local/index.ts'
import type { Logger } from '../../src/log.ts'
import type { PeerRegistry } from '../../src/net/index.ts'
import type { ObjectStore } from '../../src/store/index.ts'
import { collectFileContents } from '../../src/sync/index.ts'

// setInterval takes at most a signed 32-bit delay; a longer one would fire at once.
const MAX_TIMER_MS = 2 ** 31 - 1

/** Starts collecting; returns the stop. The timer does not keep the process alive. */
export function startFileCollector(parts: {
  store: ObjectStore
  registry: PeerRegistry
  housekeepingMs: number | undefined
  log: Logger
}): () => void {
  const { store, registry, log } = parts
  const collectFiles = async () => {
    try {
      const collected = await collectFileContents(
        store,
        registry.list().map((peer) => peer.id),
      )
      log.info(
        {
          removed: collected.blobs.length,
          chunks: collected.chunks,
          waitingForPeers: collected.waitingForPeers,
        },
        'file contents collected',
      )
    } catch (error) {
      log.error({ err: error }, 'collecting file contents failed')
    }
  }
  const collector = setInterval(
    () => void collectFiles(),
    Math.min(parts.housekeepingMs ?? DEFAULT_HOUSEKEEPING_MS, MAX_TIMER_MS),
  )
  collector.unref()
  return () => clearInterval(collector)
}
