// Reads a server-sent event stream (GET /v1/events) as a test would look at it.

export interface ServerEvent {
  event: string
  data: unknown
}

export function readEvents(response: Response) {
  const seen: ServerEvent[] = []
  const waiters = new Set<() => void>()
  void (async () => {
    let buffer = ''
    const decoder = new TextDecoder()
    try {
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true })
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const name = /^event: (.*)$/m.exec(block)?.[1]
          const data = /^data: (.*)$/m.exec(block)?.[1]
          if (name !== undefined && data !== undefined) {
            seen.push({ event: name, data: JSON.parse(data) })
            for (const wake of waiters) wake()
          }
        }
      }
    } catch {
      // Aborted by the test.
    }
  })()
  return {
    seen,
    /** The first event (already seen or coming) for which `match` holds. */
    until(match: (event: ServerEvent) => boolean, timeoutMs = 10_000): Promise<ServerEvent> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = seen.find(match)
          if (found === undefined) return
          waiters.delete(check)
          clearTimeout(timer)
          resolve(found)
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(
            new Error(
              `no such event in ${timeoutMs} ms; seen: ${JSON.stringify(seen).slice(0, 500)}`,
            ),
          )
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
  }
}
