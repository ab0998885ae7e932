// The instance's teardown: each part that has started pushes how to stop it, and
// unwinding stops them in reverse (last started, first stopped). Unwinding empties the
// stack first, so a second call stops nothing twice; a stop that throws ends the unwind
// there, with the error.
export class StopStack {
  readonly #stops: (() => Promise<void> | void)[] = []

  push(stop: () => Promise<void> | void): void {
    this.#stops.push(stop)
  }

  async unwind(): Promise<void> {
    for (const stop of this.#stops.splice(0).reverse()) await stop()
  }
}
