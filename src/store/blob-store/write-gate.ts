// Keeps writers and the collector apart: a collection never sees a blob half written,
// and no write starts while a collection runs. Writers of different blobs run together.
export class WriteGate {
  /** Store ids being written now, with how many writers each has. */
  private readonly writing = new Map<string, number>()
  private collecting: Promise<void> | undefined
  private writersDone: (() => void) | undefined

  /**
   * Marks a store id as being written until the returned function is called, once no
   * collect() runs.
   */
  async enter(id: string): Promise<() => void> {
    while (this.collecting !== undefined) await this.collecting
    this.writing.set(id, (this.writing.get(id) ?? 0) + 1)
    return () => {
      const left = (this.writing.get(id) ?? 1) - 1
      if (left > 0) this.writing.set(id, left)
      else {
        this.writing.delete(id)
        if (this.writing.size === 0) this.writersDone?.()
      }
    }
  }

  /** Runs `task` with no writer in progress and none starting. */
  async exclusive<T>(task: () => Promise<T>): Promise<T> {
    while (this.collecting !== undefined) await this.collecting
    let release = () => {}
    this.collecting = new Promise((resolve) => (release = resolve))
    try {
      while (this.writing.size > 0) {
        await new Promise<void>((resolve) => (this.writersDone = resolve))
      }
      return await task()
    } finally {
      this.writersDone = undefined
      this.collecting = undefined
      release()
    }
  }
}
