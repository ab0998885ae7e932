// The plain-text form of a record's history (GET /v1/objects/:id/history), for
// `objectsync history ID` when not --json: one line per change, oldest first.

interface FieldChangeJson {
  from: unknown
  to: unknown
}

export interface HistoryJson {
  id: string
  entries: {
    id: string
    at: string | null
    by: { id: string | null; name: string | null; verified?: boolean }
    change: string
    fields: Record<string, FieldChangeJson>
    custom: Record<string, Record<string, FieldChangeJson>>
    object?: string
    into?: string
  }[]
  next: string | null
  omitted?: number
}

const VERBS: Record<string, string> = {
  create: 'created',
  edit: 'edited',
  delete: 'deleted',
  restore: 'restored',
  merge: 'merged into',
  unmerge: 'unmerged from',
}

/**
 * Text from a record or a peer as one short, harmless line: control characters (a
 * terminal's escape sequences among them) shown as `?`.
 */
function plain(text: string, max = 60): string {
  // eslint-disable-next-line no-control-regex
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')
  return safe.length > max ? `${safe.slice(0, max - 3)}…` : safe
}

/** A value as one short piece of text: lists and maps as JSON, no value as a dash. */
function shown(value: unknown): string {
  if (value === null || value === undefined) return '–'
  return plain(typeof value === 'string' ? value : JSON.stringify(value))
}

function describeFields(fields: Record<string, FieldChangeJson>, prefix = ''): string[] {
  return Object.entries(fields).map(([name, change]) =>
    change.from === null
      ? `${prefix}${plain(name)}: ${shown(change.to)}`
      : `${prefix}${plain(name)}: ${shown(change.from)} → ${shown(change.to)}`,
  )
}

export function describeHistory(history: HistoryJson, label: string, command: string): string {
  const lines = [label === '' ? history.id : `${plain(label, 200)} (${history.id})`]
  if (history.next !== null) {
    lines.push(`(older changes: ${command} history ${history.id} --before ${history.next})`)
  }
  for (const entry of history.entries) {
    const when =
      entry.at === null ? '(no time)' : entry.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')
    const who = `${entry.by.name === null ? '(unknown)' : plain(entry.by.name)}${entry.by.id !== null && entry.by.verified === false ? ' (not proven)' : ''}`
    const what = [
      VERBS[entry.change] ?? entry.change,
      ...(entry.into === undefined ? [] : [plain(entry.into)]),
      ...(entry.object === undefined ? [] : [`(on merged ${entry.object})`]),
    ].join(' ')
    const fields = [
      ...describeFields(entry.fields),
      ...Object.entries(entry.custom).flatMap(([group, fields]) =>
        describeFields(fields, `${group}.`),
      ),
    ]
    lines.push(`${when}  ${who}  ${what}${fields.length === 0 ? '' : `: ${fields.join(' · ')}`}`)
  }
  if (history.next === null && (history.omitted ?? 0) > 0) {
    lines.push(
      `(${history.omitted} older changes not shown: the record's history is not a plain line of edits)`,
    )
  }
  if (history.entries.length === 0) lines.push('no changes')
  return lines.join('\n')
}
