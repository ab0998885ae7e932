// A benchmark instance saying when it has nothing left to do, for a benchmark that can't
// tell from the tables alone: matching an arriving object to a local record merges two
// objects in the store and may leave the row as it was. Prints `busy` when its store
// changes after it said `idle`, and `idle <lastSeq>` once the peer has caught it up and
// the local system has projected everything, with no change to the store meanwhile.
import type { InstanceId } from '../src/model/index.ts'
import type { LocalSync } from '../src/local/index.ts'
import type { ObjectStore } from '../src/store/index.ts'
import type { SyncEngine } from '../src/sync/index.ts'

export function reportIdle(parts: {
  store: ObjectStore
  local: LocalSync
  engine: SyncEngine
  peer: InstanceId
  /** The pause between two checks: at most one extra run of the local sync per poll. */
  pollMs: number
}): void {
  const { store, local, engine, peer, pollMs } = parts
  let changes = 0
  let caughtUp = false
  let idle = false
  let checking = false
  const check = async () => {
    if (checking || !caughtUp) return
    checking = true
    try {
      for (let before = -1; before !== changes;) {
        before = changes
        await new Promise((resolve) => setTimeout(resolve, pollMs))
        await local.settled()
      }
      if (!idle) process.stdout.write(`idle ${store.lastSeq}\n`)
      idle = true
    } finally {
      checking = false
    }
  }
  store.on('feed', () => {
    changes++
    if (idle) process.stdout.write('busy\n')
    idle = false
    void check()
  })
  engine.on('progress', (from, progress) => {
    if (from !== peer || !progress.caughtUp) return
    caughtUp = true
    void check()
  })
}
