// The compare of every table with what was last seen, after the local system lost its
// change capture (a table restored from a dump, a log made anew, a folder's log that
// starts over at each open): noted first in the store, so a stop or crash before it ends
// finishes it at the next start; tried again a minute after it fails, or after one that
// could not take absent records for deletes (the local system did not read whole).
import type { LocalSyncCore } from './core.ts'
import { localState } from './state-keys.ts'

/** A failed compare of every table is tried again after this long. */
const COMPARE_RETRY_MS = 60_000

export class Compare {
  /** Not before this time (ms since the epoch): the last one failed. */
  private after = 0

  constructor(
    private readonly core: Pick<LocalSyncCore, 'connector' | 'store' | 'log' | 'groups'>,
  ) {}

  /** Repairs the change capture where lost, and compares every table where noted. */
  async repairAndCompare(
    ingestEverything: (options: { deletes: boolean }) => Promise<boolean>,
  ): Promise<void> {
    const { connector, store } = this.core
    const before = (await localState.changesCursor.read(store)) ?? 0
    const repaired = (await connector.repairChangeCapture?.(before)) ?? 'intact'
    if (repaired !== 'intact') {
      if (connector.changeLogInMemory !== true) {
        const lost = 'the local system lost its change capture (a table restored?): made again'
        this.core.log.warn({ lost: repaired }, `${lost}; comparing every table`)
      }
      // Noted first: a stop or crash before the compare ends finishes it at the next
      // start (the capture is whole again by then, and would not say).
      await store.updateSyncState([
        localState.compareNeeded.entry(true),
        ...(repaired === 'log' ? [localState.changesCursor.entry(0)] : []),
      ])
      this.after = 0
    }
    if (Date.now() >= this.after && (await localState.compareNeeded.read(store)) !== undefined) {
      try {
        const whole = await ingestEverything({ deletes: true })
        await this.core.groups.loadGroups()
        // Not whole: noted still, compared again in a minute (or when it says it reads).
        if (whole) await localState.compareNeeded.write(store, undefined)
        else this.after = Date.now() + COMPARE_RETRY_MS
      } catch (error) {
        // Still noted: tried again in a minute (and at the next start); changes go on.
        this.after = Date.now() + COMPARE_RETRY_MS
        this.core.log.error(
          { err: error },
          'could not compare the local system; trying again in a minute',
        )
      }
    }
  }
}
