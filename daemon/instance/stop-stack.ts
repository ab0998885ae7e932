// The instance's teardown: each part that has started pushes how to stop it, and
// unwinding stops them in reverse (last started, first stopped). Unwinding empties the
// stack first, so a second call stops nothing twice. A stop that throws does not end the
// unwind: the parts started before it still stop (the store last, so it is always
// flushed and closed), and the first error is thrown once all have run.
export class StopStack {
  readonly #stops: (() => Promise<void> | void)[] = []

  push(stop: () => Promise<void> | void): void {
    this.#stops.push(stop)
  }

  async unwind(): Promise<void> {
    const failures: unknown[] = []
    for (const stop of this.#stops.splice(0).reverse()) {
      try {
        await stop()
      } catch (error) {
        failures.push(error)
      }
    }
    if (failures.length > 0) throw failures[0]
  }
}
