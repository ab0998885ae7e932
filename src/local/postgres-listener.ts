// The wake-up of a PostgreSQL local system: one connection LISTENing on the channel the
// change-capture triggers NOTIFY (delivered when the writing transaction commits). Lost
// with its server, it is made again every second until the server answers; each time it
// is (re)made, the listeners are woken once, for what was committed meanwhile.
import pg from 'pg'
import { NOTIFY_CHANNEL } from './postgres-change-capture.ts'
import { clientConfig } from './postgres-schema.ts'

const RELISTEN_MS = 1000

export class ChangeListener {
  private client: pg.Client | undefined
  private relisten: NodeJS.Timeout | undefined
  private running = false
  private readonly listeners = new Set<() => void>()

  constructor(private readonly url: string) {}

  /** Calls `listener` at each wake-up; returns the way to stop. */
  add(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async start(): Promise<void> {
    this.running = true
    await this.listen()
  }

  async stop(): Promise<void> {
    this.running = false
    clearTimeout(this.relisten)
    const client = this.client
    this.client = undefined
    await client?.end().catch(() => {})
  }

  private wake(): void {
    for (const listener of this.listeners) listener()
  }

  private async listen(): Promise<void> {
    const client = new pg.Client(clientConfig(this.url))
    client.on('notification', () => this.wake())
    const retry = () => {
      if (this.client !== client) return
      this.client = undefined
      void client.end().catch(() => {})
      clearTimeout(this.relisten)
      this.relisten = setTimeout(() => {
        if (this.running && this.client === undefined) void this.listen()
      }, RELISTEN_MS)
      this.relisten.unref()
    }
    client.on('error', retry)
    client.on('end', retry)
    this.client = client
    try {
      await client.connect()
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`)
      this.wake()
    } catch {
      retry()
    }
  }
}
