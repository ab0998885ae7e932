// The record view (#/objects/ID) and search (#/search?q=…): a record's fields and custom
// fields by group with who last wrote each and when, its row in the local system here,
// its conflicts (to keep or restore a value), its merges, and its history.
import {
  $,
  act,
  api,
  element,
  forgetLabel,
  peerName,
  recordLink,
  showValue,
  when,
} from './page-core.js'

const HISTORY_PAGE = 50
/** Bumped as each view opens: an answer for a view left meanwhile is dropped. */
let shownView = 0
const VERBS = {
  create: 'created',
  edit: 'edited',
  delete: 'deleted',
  restore: 'restored',
  merge: 'merged into',
  unmerge: 'unmerged from',
}

/** Shows the record `id`; `conflictCard` draws a conflict as the inbox does. */
export async function showRecord(id, conflictCard) {
  const generation = ++shownView
  const view = $('record-view')
  view.replaceChildren(element('p', { className: 'muted', textContent: 'Reading…' }))
  let object
  try {
    object = await api('GET', `/v1/objects/${encodeURIComponent(id)}`)
  } catch (error) {
    if (generation !== shownView) return
    view.replaceChildren(
      element('h2', { id: 'record-title', tabIndex: -1, textContent: 'No such record' }),
      element('p', {
        className: 'error',
        textContent: `${error.code ?? 'ERROR'}: ${error.message}`,
      }),
    )
    $('record-title').focus()
    return
  }
  forgetLabel(id)
  const { conflicts } = await api('GET', '/v1/conflicts')
  const mine = conflicts.filter((conflict) => conflict.object === id)
  if (generation !== shownView) return
  view.replaceChildren(
    recordHeading(object),
    ...mergeNotes(object),
    fieldsTable(object),
    localRow(object),
    element('h3', { textContent: 'Conflicts' }),
    mine.length === 0
      ? element('p', { className: 'muted', textContent: 'None.' })
      : element('ul', { className: 'cards' }, ...mine.map(conflictCard)),
    element('h3', { textContent: 'History' }),
    element('ol', { id: 'record-history', className: 'history', reversed: true }),
  )
  $('record-title').focus()
  await showHistory(id, undefined, generation)
}

function recordHeading(object) {
  const heading = element('h2', { id: 'record-title', tabIndex: -1 })
  heading.append(object.label || object.type)
  heading.append(' ', element('span', { className: 'muted', textContent: object.type }))
  if (object.deleted)
    heading.append(' ', element('span', { className: 'badge', textContent: 'deleted' }))
  return element(
    'div',
    {},
    heading,
    element('p', { className: 'muted' }, 'id ', element('code', { textContent: object.id })),
  )
}

function mergeNotes(object) {
  const notes = []
  if (object.mergedInto) {
    notes.push(
      element('p', {}, 'Merged into ', recordLink(object.mergedInto), ': it reads as that record.'),
    )
  }
  if (object.merged?.length > 0) {
    const links = object.merged.flatMap((merged, index) => [
      ...(index > 0 ? [', '] : []),
      recordLink(merged),
    ])
    notes.push(element('p', {}, 'Records merged into this one: ', ...links))
  }
  return notes
}

/** Each field and custom field (by group) with its value and who wrote it last, when. */
function fieldsTable(object) {
  const rows = []
  const row = (name, value, writtenKey) => {
    const written = object.written[writtenKey]
    const conflicted = object.conflicts.includes(writtenKey)
    rows.push(
      element(
        'tr',
        {},
        element('th', { scope: 'row', textContent: name }),
        element('td', { textContent: showValue(value) }, ...(conflicted ? [conflictMark()] : [])),
        element('td', {
          className: 'muted',
          textContent: written ? `${writerName(written.by)} · ${when(written.at)}` : '–',
        }),
      ),
    )
  }
  for (const [name, value] of Object.entries(object.fields)) row(name, value, name)
  for (const [group, names] of Object.entries(object.customGroups ?? {})) {
    rows.push(
      element(
        'tr',
        {},
        element('th', {
          colSpan: 3,
          scope: 'rowgroup',
          className: 'group',
          textContent: `Custom fields: ${group}`,
        }),
      ),
    )
    for (const name of names) row(name, object.custom[name], `custom.${name}`)
  }
  return element(
    'table',
    { className: 'fields' },
    element('caption', {
      className: 'muted',
      textContent:
        'Fields, and where each value came from (as the write stamps say: the history shows which writes are proven)',
    }),
    element(
      'thead',
      {},
      element(
        'tr',
        {},
        element('th', { scope: 'col', textContent: 'field' }),
        element('th', { scope: 'col', textContent: 'value' }),
        element('th', { scope: 'col', textContent: 'last written by' }),
      ),
    ),
    element('tbody', {}, ...rows),
  )
}

function conflictMark() {
  return element('span', { className: 'problem', textContent: ' (conflict: see below)' })
}

function writerName(by) {
  return by.name ?? peerName(by.id)
}

function localRow(object) {
  return element('p', {
    className: 'local-row',
    textContent: object.local
      ? `In the local system here: table ${object.local.table}, key ${object.local.key}.`
      : 'No row in the local system here.',
  })
}

/** A page of history, newest first; a button reads the page before it. */
async function showHistory(id, before, generation) {
  const list = $('record-history')
  if (!list) return
  const query = new URLSearchParams({ limit: String(HISTORY_PAGE) })
  if (before) query.set('before', before)
  const page = await api('GET', `/v1/objects/${encodeURIComponent(id)}/history?${query.toString()}`)
  if (generation !== shownView) return
  list.querySelector('.older')?.remove()
  for (const entry of [...page.entries].reverse()) list.append(historyItem(entry))
  if (page.next) {
    const older = element('button', { type: 'button', textContent: 'Older changes' })
    older.addEventListener('click', () => act(older, () => showHistory(id, page.next, generation)))
    list.append(element('li', { className: 'older' }, older))
  } else if (page.omitted > 0) {
    list.append(
      element('li', {
        className: 'muted',
        textContent: `${page.omitted} older changes are not shown: a history that is not a plain line of edits (concurrent changes, a delete, a merge, a list replaced) is read back to its latest changes only.`,
      }),
    )
  }
}

function historyItem(entry) {
  const what = [VERBS[entry.change] ?? entry.change]
  const item = element(
    'li',
    {},
    element('span', { className: 'muted', textContent: `${when(entry.at)} · ` }),
    element('strong', { textContent: entry.by.name ?? 'an instance that did not say' }),
    ...(entry.by.id && !entry.by.verified
      ? [
          element('span', {
            className: 'problem',
            title: 'The change names this instance but carries no proof that it wrote it',
            textContent: ' (not proven)',
          }),
        ]
      : []),
    ` ${what}`,
  )
  if (entry.into) item.append(' ', recordLink(entry.into))
  if (entry.object) item.append(' (on ', recordLink(entry.object), ', merged into this one)')
  const changes = [
    ...Object.entries(entry.fields).map(([name, change]) => [name, change]),
    ...Object.entries(entry.custom).flatMap(([group, fields]) =>
      Object.entries(fields).map(([name, change]) => [`${group} · ${name}`, change]),
    ),
  ]
  if (changes.length > 0) {
    item.append(
      element(
        'ul',
        { className: 'field-changes' },
        ...changes.map(([name, change]) =>
          element(
            'li',
            {},
            element('span', { className: 'muted', textContent: `${name}: ` }),
            change.from === null
              ? showValue(change.to)
              : `${showValue(change.from)} → ${showValue(change.to)}`,
          ),
        ),
      ),
    )
  }
  return item
}

// ── search ───────────────────────────────────────────────────────────────────────

export async function showSearch(query) {
  const generation = ++shownView
  const results = $('search-results')
  $('search').value = query
  results.replaceChildren(
    element('h2', { id: 'search-title', tabIndex: -1, textContent: `Records matching “${query}”` }),
  )
  $('search-title').focus()
  const { items, next } = await api(
    'GET',
    `/v1/objects?${new URLSearchParams({ q: query }).toString()}`,
  )
  if (generation !== shownView) return
  results.append(
    items.length === 0
      ? element('p', { className: 'muted', textContent: 'No record has that name or email.' })
      : element(
          'ul',
          { className: 'found' },
          ...items.map((item) =>
            element(
              'li',
              {},
              recordLink(item.id, item.label || item.type),
              element('span', {
                className: 'muted',
                textContent: ` ${item.type}${item.fields.email ? ` · ${item.fields.email}` : ''}`,
              }),
            ),
          ),
        ),
  )
  if (next) {
    results.append(
      element('p', {
        className: 'muted',
        textContent: 'More records match: add a word to narrow the search.',
      }),
    )
  }
}
