// The status page: reads the daemon's API with the token the user gave and follows
// GET /v1/events. The overview (peers, conflicts, matches, merges, recent changes) is
// here; a record's view and search are in record-view.js, managing peers in
// peer-admin.js, what they share in page-core.js. Views follow the address's fragment:
// #/objects/ID, #/search?q=…, anything else the overview.
import {
  $,
  act,
  api,
  bytes,
  element,
  peerName,
  recordLink,
  rememberPeer,
  setToken,
  showFailure,
  showValue,
  state,
  when,
} from './page-core.js'
import { peerActions, setUpPeerAdmin } from './peer-admin.js'
import { showRecord, showSearch } from './record-view.js'

const RECENT_CHANGES = 20
const RECENT_MERGES = 20

// ── what is shown ────────────────────────────────────────────────────────────────

async function refreshStatus() {
  const status = await api('GET', '/v1/status')
  state.instanceId = status.id
  $('instance-name').textContent = status.name
  $('instance-id').textContent = status.id
  $('instance-line').hidden = false
  $('local-line').hidden = false
  $('feed-seq').textContent = status.lastSeq
  document.title = `${status.name} · objectsync`
  showCounts(status.objects)
  showLocalSystem(status.localSystem)
  $('peers').querySelector('tbody').replaceChildren()
  for (const peer of status.peers) showPeer(peer)
  showPeerCount()
}

/** The local system (a PostgreSQL server, a SQLite file): answering, or since when not. */
function showLocalSystem(local) {
  const shown = $('local-system')
  shown.className = `state ${local.up ? 'on' : 'off'}`
  const retrying = local.retrying ?? 0
  shown.textContent = local.up
    ? local.behind > 0
      ? `${local.description}: writing ${local.behind.toLocaleString()} changes into it`
      : retrying > 0
        ? `${local.description}: ${retrying.toLocaleString()} records waiting to be written again`
        : `${local.description}: up to date`
    : `${local.description}: not answering since ${when(local.since)} (${local.error ?? ''})`
  // While it catches up, looked at again every two seconds (nothing else says when).
  clearTimeout(localRefresh)
  if (local.behind > 0) localRefresh = setTimeout(refreshLocalSystem, 2000)
}

let localRefresh

async function refreshLocalSystem() {
  showLocalSystem((await api('GET', '/v1/status')).localSystem)
}

function showPeerCount() {
  const count = $('peers').querySelector('tbody').children.length
  $('no-peers').hidden = count > 0
  $('peers').hidden = count === 0
}

function showPeer(peer) {
  const body = $('peers').querySelector('tbody')
  const rowId = `peer-${peer.id}`
  const existing = document.getElementById(rowId)
  if (peer.removed) {
    existing?.remove()
    rememberPeer(peer.id, undefined)
    showPeerCount()
    return
  }
  rememberPeer(peer.id, peer.name)
  const progress = peer.progress
  const firstSync = progress ? progressView(progress) : '–'
  const row = element(
    'tr',
    { id: rowId },
    element('td', { title: peer.id }, peer.name),
    element(
      'td',
      {},
      element('span', {
        className: `state ${peer.connected ? 'on' : 'off'}`,
        textContent: peer.paused ? 'paused' : peer.connected ? 'connected' : 'not connected',
      }),
      ...connectionPath(peer),
      ...peerProblems(peer),
    ),
    element('td', { textContent: when(peer.lastSyncAt) }),
    element('td', { textContent: peer.pendingIn }),
    element('td', { textContent: peer.pendingOut }),
    element('td', { className: 'first-sync' }, firstSync),
    element('td', { className: 'files' }, ...transfersView(peer.transfers)),
    element('td', {}, ...peerActions(peer)),
  )
  row.dataset.connected = String(peer.connected)
  if (peer.transfers?.active.length > 0) followTransfers()
  if (existing) existing.replaceWith(row)
  else body.append(row)
  showPeerCount()
}

/** File contents moving to and from the peer now (bytes, rate), else what moved since start. */
function transfersView(transfers) {
  if (!transfers) return ['–']
  if (transfers.active.length > 0) {
    return transfers.active.map((transfer) => {
      const rate = transfer.direction === 'in' ? transfers.rateIn : transfers.rateOut
      const done = transfer.size
        ? `${bytes(transfer.bytes)} of ${bytes(transfer.size)}`
        : bytes(transfer.bytes)
      return element(
        'div',
        { className: 'transfer' },
        `${transfer.direction === 'in' ? '↓' : '↑'} `,
        recordLink(transfer.file),
        ` ${done}, ${bytes(rate)}/s`,
      )
    })
  }
  const moved = []
  if (transfers.bytesIn > 0) moved.push(`↓ ${bytes(transfers.bytesIn)}`)
  if (transfers.bytesOut > 0) moved.push(`↑ ${bytes(transfers.bytesOut)}`)
  if (transfers.failed > 0) moved.push(`${transfers.failed} failed`)
  return [moved.length === 0 ? '–' : moved.join(' · ')]
}

let transfersTimer

/** No event says a transfer moved: while one does, the peers are read every two seconds. */
function followTransfers() {
  if (transfersTimer !== undefined) return
  transfersTimer = setTimeout(() => {
    transfersTimer = undefined
    // Only the files column: the rest of a row follows the `peer` events, and this read
    // may be older than the last of them.
    api('GET', '/v1/peers')
      .then(({ peers }) => peers.forEach(showTransfers))
      .catch(showFailure)
  }, 2000)
}

function showTransfers(peer) {
  const cell = document.getElementById(`peer-${peer.id}`)?.querySelector('.files')
  if (!cell) return
  cell.replaceChildren(...transfersView(peer.transfers))
  if (peer.transfers?.active.length > 0) followTransfers()
}

/** How the peer is connected (through a relay), and, for our relay, its reservation. */
function connectionPath(peer) {
  const notes = []
  if (peer.connection?.path === 'relay') {
    notes.push(
      element('div', {
        className: 'path',
        title: peer.connection.relay.id,
        textContent: `via relay ${peer.connection.relay.name}`,
      }),
    )
  }
  if (peer.relay) {
    notes.push(
      element('div', {
        className: peer.relay.reserved ? 'path' : 'problem',
        textContent: peer.relay.reserved ? 'our relay: reserved' : 'our relay: no reservation',
      }),
    )
  }
  return notes
}

/** Why the last session broke off, and what was refused from the peer, if anything. */
function peerProblems(peer) {
  const problems = []
  if (peer.lastError) {
    problems.push(
      element('div', { className: 'problem', textContent: `broke off: ${peer.lastError}` }),
    )
  }
  if (peer.refused > 0) {
    problems.push(element('div', { className: 'problem', textContent: `refused ${peer.refused}` }))
  }
  return problems
}

function showProgress(sync) {
  const cell = document.getElementById(`peer-${sync.peer}`)?.querySelector('.first-sync')
  if (!cell) return
  cell.replaceChildren(progressView(sync))
}

/** A session's catch-up: a bar and its count, or that it has caught up. */
function progressView(progress) {
  if (progress.caughtUp) return 'caught up'
  return element(
    'span',
    {},
    element('progress', { max: Math.max(progress.total, 1), value: progress.done }),
    ` ${progress.done} / ${progress.total}`,
  )
}

async function refreshConflicts() {
  const { conflicts } = await api('GET', '/v1/conflicts')
  $('conflict-count').textContent = conflicts.length || ''
  $('no-conflicts').hidden = conflicts.length > 0
  $('conflicts').replaceChildren(...conflicts.map(conflictCard))
}

export function conflictCard(conflict) {
  const choice = (value, shown) => {
    const isDelete = conflict.field === 'deleted'
    const label = isDelete
      ? value.value === true
        ? 'Keep it deleted'
        : 'Restore it'
      : shown
        ? 'Keep this'
        : 'Restore this'
    const button = element('button', { type: 'button', textContent: label })
    button.addEventListener('click', () =>
      act(button, () =>
        api('POST', `/v1/conflicts/${conflict.object}/resolve`, {
          field: conflict.field,
          by: value.by,
          at: value.at,
        }).then(conflictSettled),
      ),
    )
    return element(
      'div',
      { className: 'choice' },
      element('div', { className: 'value', textContent: isDelete ? '' : showValue(value.value) }),
      element('div', {
        className: 'muted',
        textContent: `${shown ? 'shown · ' : ''}by ${peerName(value.by)} at ${new Date(value.at).toLocaleString()}`,
      }),
      button,
    )
  }
  const card = element(
    'li',
    { className: 'conflict' },
    element(
      'div',
      {},
      recordLink(conflict.object),
      ' ',
      element('span', { className: 'muted', textContent: `${conflict.type} · ${conflict.field}` }),
    ),
    element(
      'div',
      { className: 'choices' },
      choice(conflict.winner, true),
      ...conflict.losers.map((loser) => choice(loser, false)),
    ),
  )
  card.dataset.object = conflict.object
  card.dataset.field = conflict.field
  return card
}

async function refreshMatches() {
  const { matches } = await api('GET', '/v1/matches')
  $('match-count').textContent = matches.length || ''
  $('no-matches').hidden = matches.length > 0
  $('matches').replaceChildren(...matches.map(matchCard))
}

function fieldsText(fields) {
  if (!fields) return '(unreadable)'
  return Object.entries(fields)
    .filter(([, value]) => value !== null && value !== undefined && value !== '')
    .map(([field, value]) => `${field}: ${showValue(value)}`)
    .join(' · ')
}

function matchCard(match) {
  const decide = (label, path, body) => {
    const button = element('button', { type: 'button', textContent: label })
    button.addEventListener('click', () =>
      act(button, () =>
        api('POST', `/v1/matches/${match.object}/${path}`, body).then(refreshMatches),
      ),
    )
    return button
  }
  const card = element(
    'li',
    { className: 'match' },
    element(
      'div',
      {},
      element('strong', { textContent: `Incoming ${match.type}: ` }),
      fieldsText(match.fields),
    ),
    element(
      'div',
      { className: 'choices' },
      ...match.records.map((record) =>
        element(
          'div',
          { className: 'choice' },
          element('div', { textContent: `Record ${record.key}: ${fieldsText(record.fields)}` }),
          decide('Link to this record', 'link', { key: record.key }),
        ),
      ),
      element('div', { className: 'choice' }, decide('Keep separate', 'separate')),
    ),
  )
  card.dataset.object = match.object
  return card
}

async function refreshMerges() {
  const { merges } = await api('GET', `/v1/merges?limit=${RECENT_MERGES}`)
  $('no-merges').hidden = merges.length > 0
  $('merges').replaceChildren(...merges.map(mergeCard))
}

function decider(merge) {
  if (!merge.by) return 'an instance that did not say'
  if (merge.by === state.instanceId) return 'this instance'
  return merge.byName ?? peerName(merge.by)
}

function mergeCard(merge) {
  const undo = element('button', { type: 'button', textContent: 'Undo' })
  undo.setAttribute('aria-label', `Undo: ${merge.name ?? merge.id} stands alone again`)
  undo.addEventListener('click', () =>
    act(undo, () => api('POST', `/v1/objects/${merge.id}/unmerge`).then(refreshMerges)),
  )
  const card = element(
    'li',
    { className: 'merge' },
    element(
      'div',
      {},
      element('span', { className: 'muted', textContent: `${merge.type} · ` }),
      recordLink(merge.id, merge.name),
      ' merged into ',
      recordLink(merge.into, merge.intoName),
    ),
    element('div', {
      className: 'muted decided',
      textContent: `by ${decider(merge)} · ${merge.at ? when(merge.at) : 'when is not known'}`,
    }),
    undo,
  )
  card.dataset.object = merge.id
  card.dataset.into = merge.into
  return card
}

async function refreshChanges() {
  const status = await api('GET', '/v1/status')
  const since = Math.max(0, status.lastSeq - RECENT_CHANGES)
  const { changes } = await api('GET', `/v1/changes?since=${since}`)
  $('changes').querySelector('tbody').replaceChildren()
  showChanges(changes)
}

function showChanges(changes) {
  const body = $('changes').querySelector('tbody')
  for (const change of changes) {
    body.prepend(
      element(
        'tr',
        {},
        element('td', { textContent: change.seq }),
        element('td', { textContent: change.type }),
        element('td', {}, recordLink(change.id)),
        element('td', { textContent: change.local ? 'local system' : peerName(change.from) }),
      ),
    )
  }
  while (body.children.length > RECENT_CHANGES) body.lastElementChild.remove()
}

// ── live ─────────────────────────────────────────────────────────────────────────

/**
 * Runs `run` soon after a call, then at most once per `ms` while calls keep coming (a
 * first sync sends many), and once more after the last one.
 */
function throttle(run, ms) {
  let timer
  let again = false
  const fire = () => {
    again = false
    run()
      .catch(showFailure)
      .finally(() => {
        timer = again ? setTimeout(fire, ms) : undefined
      })
  }
  return () => {
    if (timer !== undefined) again = true
    else timer = setTimeout(fire, 50)
  }
}

const refreshCounts = throttle(refreshObjectCounts, 1000)
const conflictsChanged = throttle(refreshConflicts, 300)
const matchesChanged = throttle(refreshMatches, 300)
const mergesChanged = throttle(refreshMerges, 300)
const changesSkipped = throttle(refreshChanges, 1000)

async function refreshObjectCounts() {
  const status = await api('GET', '/v1/status')
  showCounts(status.objects)
  showLocalSystem(status.localSystem)
}

function showCounts(objects) {
  $('objects').replaceChildren(
    ...Object.entries(objects).map(([type, count]) =>
      element('li', {}, element('strong', { textContent: count }), type),
    ),
  )
}

const handlers = {
  local: showLocalSystem,
  peer: showPeer,
  sync: showProgress,
  conflict: conflictsChanged,
  match: matchesChanged,
  merge: mergesChanged,
  change(data) {
    $('feed-seq').textContent = data.last
    // More than one event carries: the newest are read from the feed.
    if (data.more) changesSkipped()
    else showChanges(data.changes)
    refreshCounts()
    // An edit can settle a conflict shown here (the inbox is told only when it is read).
    const shown = new Set(
      [...document.querySelectorAll('li.conflict')].map((card) => card.dataset.object),
    )
    if (data.changes.some((change) => shown.has(change.id))) conflictsChanged()
  },
}

/**
 * Follows GET /v1/events (fetch, since EventSource can't send the token), and reads
 * everything afresh each time it has (re)connected: what happened before is not lost
 * between reading and listening. Reconnects after a loss.
 */
async function follow() {
  for (;;) {
    try {
      const response = await fetch('/v1/events', {
        headers: { authorization: `Bearer ${state.token}` },
      })
      if (!response.ok) throw new Error(`events: ${response.status}`)
      setLive(true)
      void refreshAll().catch(showFailure)
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        let end
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          dispatch(buffer.slice(0, end))
          buffer = buffer.slice(end + 2)
        }
      }
    } catch {
      // Reconnected below.
    }
    setLive(false)
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
}

function refreshAll() {
  return Promise.all([
    refreshStatus(),
    refreshConflicts(),
    refreshMatches(),
    refreshMerges(),
    refreshChanges(),
  ])
}

function dispatch(block) {
  let name = 'message'
  let data = ''
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) name = line.slice(7)
    else if (line.startsWith('data: ')) data += line.slice(6)
  }
  if (data && handlers[name]) handlers[name](JSON.parse(data))
}

function setLive(on) {
  $('live').className = `state ${on ? 'on' : 'off'}`
  $('live').textContent = on ? 'live' : 'reconnecting…'
}

// ── views ────────────────────────────────────────────────────────────────────────

/** The view the address's fragment names: a record, a search, or the overview. */
function route() {
  const hash = location.hash
  const record = /^#\/objects\/([0-9A-Za-z]+)$/.exec(hash)
  const search = hash.startsWith('#/search?') ? new URLSearchParams(hash.slice(9)).get('q') : null
  $('overview').hidden = record !== null || search !== null
  $('record-view').hidden = record === null
  $('search-results').hidden = search === null
  if (record) return showRecord(record[1], conflictCard).catch(showFailure)
  if (search) return showSearch(search).catch(showFailure)
  return Promise.resolve()
}

/** A conflict settled from the inbox or a record's view: both are read again. */
function conflictSettled() {
  const record = /^#\/objects\/([0-9A-Za-z]+)$/.exec(location.hash)
  return Promise.all([refreshConflicts(), record ? showRecord(record[1], conflictCard) : undefined])
}

$('search-form').addEventListener('submit', (event) => {
  event.preventDefault()
  const query = $('search').value.trim()
  if (query) location.hash = `#/search?${new URLSearchParams({ q: query }).toString()}`
})

// ── start ────────────────────────────────────────────────────────────────────────

async function open() {
  // Checks the token; the rest is read once the event stream is open.
  await refreshStatus()
  $('login').hidden = true
  $('main').hidden = false
  setUpPeerAdmin()
  void route()
  void follow()
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault()
  setToken($('token').value.trim())
  open().catch((error) => {
    $('login-error').textContent =
      error.code === 'UNAUTHORIZED' ? 'That is not the token of this daemon.' : error.message
  })
})

window.addEventListener('hashchange', () => {
  // A link with a token opened in this tab again only changes the fragment: start over.
  if (location.hash.includes('token=')) location.reload()
  else if (!$('main').hidden) void route()
})

if (state.token) {
  open().catch(() => {
    $('login').hidden = false
  })
} else {
  $('login').hidden = false
}
