// The one event style of every part (store, blob store, local sync, sync engine): named,
// typed events whose listeners are called in the order they subscribed, each `on()`
// returning its own unsubscribe.
//
// Rule: a listener can't hurt the part that fires the event. A listener that throws, or
// returns a promise that rejects, is logged and skipped; the other listeners still run
// and `emit()` returns normally, so a broken subscriber never fails a commit or a row.
import { silentLogger, type Logger } from './log.ts'

/** Event name → the arguments its listeners receive. */
export type EventMap = Record<string, unknown[]>

export type Listener<Args extends unknown[]> = (...args: Args) => unknown

/** The subscribing half, for code that only listens. */
export interface Subscribable<Events extends EventMap> {
  on<Name extends keyof Events & string>(name: Name, listener: Listener<Events[Name]>): () => void
}

export class TypedEvents<Events extends EventMap> implements Subscribable<Events> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>()

  constructor(private readonly listenerLog: Logger = silentLogger) {}

  on<Name extends keyof Events & string>(name: Name, listener: Listener<Events[Name]>): () => void {
    let set = this.listeners.get(name)
    if (set === undefined) {
      set = new Set()
      this.listeners.set(name, set)
    }
    // Each subscription is its own entry, so subscribing one function twice needs two
    // unsubscribes, as with EventTarget's distinct wrappers.
    const entry: Listener<Events[Name]> = (...args) => listener(...args)
    set.add(entry)
    return () => {
      set.delete(entry)
    }
  }

  /** Calls every listener of `name`; never throws. */
  emit<Name extends keyof Events & string>(name: Name, ...args: Events[Name]): void {
    const set = this.listeners.get(name)
    if (set === undefined || set.size === 0) return
    // A copy: a listener that subscribes or unsubscribes does not change this round.
    for (const listener of [...set] as Listener<Events[Name]>[]) {
      try {
        const result = listener(...args)
        if (result instanceof Promise) {
          result.catch((error: unknown) => this.listenerFailed(name, error))
        }
      } catch (error) {
        this.listenerFailed(name, error)
      }
    }
  }

  /** Drops every listener of every event (at close). */
  clear(): void {
    this.listeners.clear()
  }

  /** How many listeners `name` has (for tests and leak checks). */
  listenerCount(name: keyof Events & string): number {
    return this.listeners.get(name)?.size ?? 0
  }

  private listenerFailed(name: string, error: unknown): void {
    this.listenerLog.error({ err: error, event: name }, 'event listener threw')
  }
}
