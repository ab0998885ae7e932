// Serializes async work per key: operations on one object run one at a time, while
// operations on different objects interleave (and share LevelDB batches).

export class KeyedMutex<K> {
  private readonly tails = new Map<K, Promise<unknown>>()

  run<T>(key: K, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve()
    const result = previous.then(task, task)
    const tail = result.then(
      () => undefined,
      () => undefined,
    )
    this.tails.set(key, tail)
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    })
    return result
  }

  isLocked(key: K): boolean {
    return this.tails.has(key)
  }

  /** Resolves once every task queued so far has settled. */
  async drain(): Promise<void> {
    while (this.tails.size > 0) await Promise.all(this.tails.values())
  }
}
