// The bridge's first run: every row of the local system taken in once. It counts as done
// only once every table is read; one cut short (the local system failing half-way) is
// tried again at the polls after it, backing off from its failure: a run that takes
// longer than the delay does not start again at once.
export class FirstRun {
  /** False from a first start until every row has been taken in once. */
  done = true
  private retryAt = 0
  private delayMs: number

  constructor(
    private readonly readEverything: () => Promise<void>,
    private readonly failed: (error: unknown) => void,
    private readonly backoff: { firstMs: number; maxMs: number },
  ) {
    this.delayMs = backoff.firstMs
  }

  /** Runs it, or tries it again once the backoff allows; true once it is done. */
  async attempt(): Promise<boolean> {
    if (this.done) return true
    if (Date.now() < this.retryAt) return false
    try {
      await this.readEverything()
      this.done = true
      return true
    } catch (error) {
      this.retryAt = Date.now() + this.delayMs
      this.delayMs = Math.min(this.delayMs * 2, this.backoff.maxMs)
      this.failed(error)
      return false
    }
  }
}
