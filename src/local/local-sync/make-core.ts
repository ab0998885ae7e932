// The parts of a LocalSync that its pieces share (core.ts), each made with the ones it needs.
import { silentLogger } from '../../log.ts'
import type { ObjectId } from '../../model/index.ts'
import { TypedEvents } from '../../typed-events.ts'
import type { EntityMapping } from '../mapping/index.ts'
import { MatchIndex } from '../matching.ts'
import { AwaitedReferences } from './awaited-references.ts'
import type { LocalSyncCore, LocalSyncEvents, LocalSyncOptions } from './core.ts'
import { Groups } from './groups.ts'
import { Links } from './links.ts'
import { PeerRules } from './peer-rules.ts'
import { RowReader } from './row-reader.ts'

/** The shared parts, each made with the ones it needs. */
export function makeCore(options: LocalSyncOptions): LocalSyncCore {
  const { store, connector, mapping, instanceId } = options
  const log = (options.logger ?? silentLogger).child('local')
  const peers = options.peers ?? new Map()
  const byTable = new Map<string, EntityMapping[]>()
  for (const entity of mapping.values()) {
    byTable.set(entity.table, [...(byTable.get(entity.table) ?? []), entity])
  }
  const links = new Links({ store, mapping, instanceId })
  const rules = new PeerRules({ peers, links })
  const groups = new Groups({ store, connector, mapping, links, rules })
  const awaiting = new AwaitedReferences({ store, links })
  return {
    store,
    connector,
    mapping,
    byTable,
    instanceId,
    peers,
    log,
    events: new TypedEvents<LocalSyncEvents>(log),
    links,
    awaiting,
    matches: new MatchIndex((id) => store.survivorOf(id as ObjectId)),
    rules,
    rows: new RowReader({ links, log }),
    groups,
  }
}
