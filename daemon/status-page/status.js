// The status page: reads the daemon's API with the token the user gave (kept in this
// tab's sessionStorage only) and follows GET /v1/events. Everything that came from a
// peer is shown with textContent, never as HTML.
const TOKEN_KEY = 'objectsync-token'
const RECENT_CHANGES = 20
const RECENT_MERGES = 20
const $ = (id) => document.getElementById(id)

let token = takeToken()
const peerNames = new Map()
let instanceId

function takeToken() {
  // `objectsync status` prints the page's address with the token after #: the fragment
  // never reaches a server or a log. It is moved to sessionStorage and off the address.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token')
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash)
    history.replaceState(null, '', location.pathname)
  }
  return sessionStorage.getItem(TOKEN_KEY)
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const json = response.status === 204 ? undefined : await response.json()
  if (!response.ok) {
    const error = new Error(json?.error?.message ?? response.statusText)
    error.code = json?.error?.code
    throw error
  }
  return json
}

function element(tag, properties = {}, ...children) {
  const node = document.createElement(tag)
  Object.assign(node, properties)
  for (const child of children) node.append(child)
  return node
}

function showValue(value) {
  if (value === undefined || value === null) return '(empty)'
  return typeof value === 'string' ? value : JSON.stringify(value)
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : 'never'
}

function peerName(id) {
  return peerNames.get(id) ?? (id ? `${id.slice(0, 12)}…` : 'this instance')
}

// ── what is shown ────────────────────────────────────────────────────────────────

async function refreshStatus() {
  const status = await api('GET', '/v1/status')
  instanceId = status.id
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
    peerNames.delete(peer.id)
    showPeerCount()
    return
  }
  peerNames.set(peer.id, peer.name)
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
        textContent: peer.connected ? 'connected' : 'not connected',
      }),
      ...connectionPath(peer),
      ...peerProblems(peer),
    ),
    element('td', { textContent: when(peer.lastSyncAt) }),
    element('td', { textContent: peer.pendingIn }),
    element('td', { textContent: peer.pendingOut }),
    element('td', { className: 'first-sync' }, firstSync),
  )
  row.dataset.connected = String(peer.connected)
  if (existing) existing.replaceWith(row)
  else body.append(row)
  showPeerCount()
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

function conflictCard(conflict) {
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
        }).then(refreshConflicts),
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
      element('strong', { textContent: `${conflict.type} · ${conflict.field}` }),
      ' ',
      element('span', { className: 'id muted', textContent: conflict.object }),
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

/** A record as the merge list names it: its name when it has one, and its id. */
function recordView(id, name) {
  return element(
    'span',
    { className: 'record' },
    ...(name ? [element('strong', { textContent: name }), ' '] : []),
    element('span', { className: 'id muted', textContent: id }),
  )
}

function decider(merge) {
  if (!merge.by) return 'an instance that did not say'
  if (merge.by === instanceId) return 'this instance'
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
      recordView(merge.id, merge.name),
      ' merged into ',
      recordView(merge.into, merge.intoName),
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
        element('td', { className: 'id', textContent: change.id }),
        element('td', { textContent: change.local ? 'local system' : peerName(change.from) }),
      ),
    )
  }
  while (body.children.length > RECENT_CHANGES) body.lastElementChild.remove()
}

async function act(button, action) {
  button.disabled = true
  $('action-error').textContent = ''
  try {
    await action()
  } catch (error) {
    $('action-error').textContent = `${error.code ?? 'ERROR'}: ${error.message}`
    button.disabled = false
  }
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
      const response = await fetch('/v1/events', { headers: { authorization: `Bearer ${token}` } })
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

function showFailure(error) {
  $('action-error').textContent = `${error.code ?? 'ERROR'}: ${error.message}`
}

// ── start ────────────────────────────────────────────────────────────────────────

async function open() {
  // Checks the token; the rest is read once the event stream is open.
  await refreshStatus()
  $('login').hidden = true
  $('main').hidden = false
  void follow()
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault()
  token = $('token').value.trim()
  sessionStorage.setItem(TOKEN_KEY, token)
  open().catch((error) => {
    $('login-error').textContent =
      error.code === 'UNAUTHORIZED' ? 'That is not the token of this daemon.' : error.message
  })
})

// A link with a token opened in this tab again only changes the fragment: start over.
window.addEventListener('hashchange', () => {
  if (location.hash.includes('token=')) location.reload()
})

if (token) {
  open().catch(() => {
    $('login').hidden = false
  })
} else {
  $('login').hidden = false
}
