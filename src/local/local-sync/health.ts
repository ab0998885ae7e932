// Whether the local system answers: a PostgreSQL server that went away (a restart, a
// network cut), a SQLite file that can't be opened. Each poll of the change log that
// answers says it is up; a read or write refused with LOCAL_SYSTEM_IO says it is down,
// with the reason. Only the changes between the two are logged (an error when it goes
// down, the time it was down when it comes back), not every poll while it is away.
import { isObjectSyncError } from '../../errors.ts'
import type { Logger } from '../../log.ts'

export interface LocalSystemState {
  /** What the local system is, as shown (a PostgreSQL URL without its password). */
  description: string
  /** Whether it answered the last time it was asked. */
  up: boolean
  /** Since when (ms since the epoch) it has been up or down. */
  since: number
  /** While down: why, as the last refusal said. */
  error?: string
  /** While down: the tries that failed since it went down. */
  failures: number
  /** Tries that failed since the daemon started. */
  totalFailures: number
  /**
   * Changes of the store not yet written into the local system (feed entries past the
   * projection's position): 0 once it has caught up. Set by LocalSync.
   */
  behind?: number
}

export class LocalSystemHealth {
  private current: LocalSystemState

  constructor(
    description: string,
    private readonly log: Logger,
    /** Called when it goes down or comes back up. */
    private readonly changed: (state: LocalSystemState) => void = () => {},
    private readonly clock: () => number = Date.now,
  ) {
    this.current = { description, up: true, since: clock(), failures: 0, totalFailures: 0 }
  }

  state(): LocalSystemState {
    return { ...this.current }
  }

  /** The local system answered. */
  answered(): void {
    if (this.current.up) return
    const now = this.clock()
    this.log.info(
      { downMs: now - this.current.since, failures: this.current.failures },
      'the local system answers again',
    )
    this.current = { ...this.current, up: true, since: now, failures: 0 }
    delete this.current.error
    this.changed(this.state())
  }

  /**
   * A piece of work failed: the local system is down when the failure is its refusal
   * (LOCAL_SYSTEM_IO). Returns whether the failure was that (and so is logged here).
   */
  failed(error: unknown): boolean {
    if (!isObjectSyncError(error, 'LOCAL_SYSTEM_IO')) return false
    const message = error instanceof Error ? error.message : String(error)
    if (this.current.up) {
      this.log.error({ err: error }, 'the local system does not answer; trying again')
      this.current = {
        ...this.current,
        up: false,
        since: this.clock(),
        error: message,
        failures: 1,
        totalFailures: this.current.totalFailures + 1,
      }
      this.changed(this.state())
      return true
    }
    this.log.debug({ err: error }, 'the local system still does not answer')
    this.current = {
      ...this.current,
      error: message,
      failures: this.current.failures + 1,
      totalFailures: this.current.totalFailures + 1,
    }
    return true
  }
}
