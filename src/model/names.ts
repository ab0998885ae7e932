// Names people give instances: compared as people read them.

/** A name as compared with others: case, spacing and Unicode forms aside. */
export function sameName(a: string, b: string): boolean {
  const form = (name: string) => name.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim()
  return form(a) === form(b)
}
