// Which op holds each key of a facet read as a line (see linear.ts).

/**
 * The op holding each key, by id ("counter@actor"). The created change's are kept as
 * counters and made ids only when an edit needs them: most facets read are never edited.
 */
export class OpIds {
  private ids: Map<string, string> | undefined

  constructor(
    private readonly created: ReadonlyMap<string, number>,
    private readonly author: string,
  ) {}

  get(key: string): string | undefined {
    return this.materialized().get(key)
  }

  set(key: string, id: string): void {
    this.materialized().set(key, id)
  }

  delete(key: string): void {
    this.materialized().delete(key)
  }

  /** Every key with the id of the op holding it: what crosses to another thread. */
  entries(): [string, string][] {
    return [...this.materialized()]
  }

  /** The op ids `entries` (as entries() gives them) name. */
  static of(entries: Iterable<readonly [string, string]>): OpIds {
    const ids = new OpIds(new Map(), '')
    ids.ids = new Map(entries)
    return ids
  }

  copy(): OpIds {
    const copy = new OpIds(this.created, this.author)
    if (this.ids !== undefined) copy.ids = new Map(this.ids)
    return copy
  }

  private materialized(): Map<string, string> {
    this.ids ??= new Map(
      [...this.created].map(([key, counter]) => [key, `${counter}@${this.author}`]),
    )
    return this.ids
  }
}
