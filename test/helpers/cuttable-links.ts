// Partitions between real daemons: every pair of daemons talks through two small TCP
// forwarders of ours (one per direction of dialling), so that the path between two running
// daemons can be cut and healed while both keep running and the others still reach both.
//
// A cut is either
// - 'reset': open connections are closed and new ones refused at once (a peer's host
//   rebooting its network, a firewall sending resets), or
// - 'silent': nothing passes either way and nothing is closed; new connections wait
//   (a cable pulled, packets dropped). On healing, what waited is delivered, as TCP would
//   once its retransmissions get through — unless the daemons gave up on it first.
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { MeshDaemon } from './daemon-mesh.ts'

export type CutStyle = 'reset' | 'silent'
type LinkState = 'open' | CutStyle

/** One forwarder: connections to `port` go on to a daemon's peer port. */
class CuttableLink {
  private state: LinkState = 'open'
  private readonly connections = new Set<ForwardedConnection>()

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static open(targetPort: number): Promise<CuttableLink> {
    return new Promise((resolve, reject) => {
      const server = createServer({ pauseOnConnect: true })
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        const link = new CuttableLink(server, (server.address() as { port: number }).port)
        server.on('connection', (client) => link.accept(client, targetPort))
        resolve(link)
      })
    })
  }

  cut(style: CutStyle): void {
    this.state = style
    for (const connection of this.connections) {
      if (style === 'reset') connection.destroy()
      else connection.hold()
    }
  }

  heal(): void {
    this.state = 'open'
    for (const connection of this.connections) connection.release()
  }

  close(): Promise<void> {
    for (const connection of this.connections) connection.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private accept(client: Socket, targetPort: number): void {
    if (this.state === 'reset') {
      client.destroy()
      return
    }
    const connection = new ForwardedConnection(
      client,
      targetPort,
      () => this.state === 'silent',
      () => this.connections.delete(connection),
    )
    this.connections.add(connection)
  }
}

/** One client connection and the one it opened to the daemon (once not held). */
class ForwardedConnection {
  private upstream: Socket | undefined
  /** One side went away while held: the other learns it on healing, not before. */
  private goneWhileHeld = false
  private destroyed = false

  constructor(
    private readonly client: Socket,
    private readonly targetPort: number,
    private readonly held: () => boolean,
    private readonly forget: () => void,
  ) {
    client.on('error', () => undefined)
    client.on('close', () => this.sideGone())
    if (!held()) this.connectUpstream()
  }

  hold(): void {
    this.client.pause()
    this.upstream?.pause()
  }

  release(): void {
    if (this.goneWhileHeld) this.destroy()
    else if (this.upstream === undefined) this.connectUpstream()
    else {
      this.client.resume()
      this.upstream.resume()
    }
  }

  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.client.destroy()
    this.upstream?.destroy()
    this.forget()
  }

  private connectUpstream(): void {
    const upstream = connect(this.targetPort, '127.0.0.1')
    this.upstream = upstream
    upstream.on('error', () => undefined)
    upstream.on('close', () => this.sideGone())
    this.pump(this.client, upstream)
    this.pump(upstream, this.client)
    // The client was paused from the start (pauseOnConnect); a 'data' listener does not
    // resume a stream paused on purpose.
    this.client.resume()
  }

  /** Forwards `from` to `to` with back-pressure, except while held. */
  private pump(from: Socket, to: Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause()
    })
    to.on('drain', () => {
      if (!this.held()) from.resume()
    })
    from.on('end', () => to.end())
  }

  private sideGone(): void {
    if (this.held()) this.goneWhileHeld = true
    else this.destroy()
  }
}

/** The cuttable paths of a full mesh: for each pair, one link towards each of the two. */
export class MeshLinks {
  private constructor(private readonly links: Map<string, CuttableLink>) {}

  static async between(daemons: readonly MeshDaemon[]): Promise<MeshLinks> {
    const links = new Map<string, CuttableLink>()
    for (const from of daemons) {
      for (const to of daemons) {
        if (from !== to) links.set(directed(from, to), await CuttableLink.open(to.port))
      }
    }
    return new MeshLinks(links)
  }

  /** Where `from` dials `to`: `to`'s end of the link between them (for pairMesh). */
  addressOf(from: MeshDaemon, to: MeshDaemon): string {
    return `/ip4/127.0.0.1/tcp/${this.link(from, to).port}`
  }

  /** Cuts the path between `one` and `other`, both ways. */
  cut(one: MeshDaemon, other: MeshDaemon, style: CutStyle): void {
    this.link(one, other).cut(style)
    this.link(other, one).cut(style)
  }

  heal(one: MeshDaemon, other: MeshDaemon): void {
    this.link(one, other).heal()
    this.link(other, one).heal()
  }

  healAll(): void {
    for (const link of this.links.values()) link.heal()
  }

  async close(): Promise<void> {
    await Promise.all([...this.links.values()].map((link) => link.close()))
  }

  private link(from: MeshDaemon, to: MeshDaemon): CuttableLink {
    return this.links.get(directed(from, to))!
  }
}

function directed(from: MeshDaemon, to: MeshDaemon): string {
  return `${from.name}→${to.name}`
}
