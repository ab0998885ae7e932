// Google Contacts CSV exports as a folder connector's records (csv-parse, csv-stringify):
// one contact a line, a header naming the columns — today's export ("First Name", "Last
// Name", "Organization Name", "Labels", "E-mail 1 - Value" …) or the older one ("Given
// Name", "Family Name", "Organization 1 - Name", "Group Membership" …). A line with a
// name is a person; one with only an organization name is an organization (as Google
// keeps a company contact). Multi-values are " ::: "-separated; the first is the one
// objectsync reads. Labels starting with "* " (Google's own: "* myContacts", "* starred")
// are kept but are no groups. Custom fields are the "Custom Field N - Label / Value"
// pairs. Google exports no id: a contact's key is its `objectsync id` column (written on
// the lines objectsync adds), else its first e-mail, else its name, else `<file>#<n>`.
// Writing rewrites the file with every column and line it had, changing only the
// columns objectsync models (adding any it needs to the header), BOM kept as it was.
import { parse } from 'csv-parse/sync'
import { stringify } from 'csv-stringify/sync'
import type { CustomValues, LocalRow } from '../connector.ts'
import type { Entry, EntryContent, EntryProblem, FolderFormat } from './format.ts'

interface CsvMeta {
  header: string[]
  bom: boolean
}

/** A line's values, by the header's columns (a column added later reads as ''). */
type Line = string[]

/** Each field's columns in today's export, then the older one's. */
const COLUMNS = {
  id: ['objectsync id'],
  first: ['First Name', 'Given Name'],
  last: ['Last Name', 'Family Name'],
  organization: ['Organization Name', 'Organization 1 - Name'],
  title: ['Organization Title', 'Organization 1 - Title'],
  birthday: ['Birthday'],
  email: ['E-mail 1 - Value'],
  phone: ['Phone 1 - Value'],
  website: ['Website 1 - Value'],
  labels: ['Labels', 'Group Membership'],
} as const
type Field = keyof typeof COLUMNS

const SEPARATOR = ' ::: '
const CUSTOM = /^Custom Field (\d+) - (Label|Value)$/

function column(meta: CsvMeta, field: Field): number {
  for (const name of COLUMNS[field]) {
    const index = meta.header.indexOf(name)
    if (index >= 0) return index
  }
  return -1
}

function valueOf(meta: CsvMeta, line: Line, field: Field): string {
  const index = column(meta, field)
  return index < 0 ? '' : (line[index] ?? '').split(SEPARATOR)[0]!.trim()
}

/** The file's contacts as entries, and the lines that don't read. */
function readCsv(
  file: string,
  text: string,
): { entries: Entry[]; problems: EntryProblem[]; meta: CsvMeta } {
  const bom = text.startsWith('\ufeff')
  let records: { record: string[]; info: { lines: number } }[]
  try {
    records = parse(text, {
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
      info: true,
    }) as unknown as { record: string[]; info: { lines: number } }[]
  } catch (error) {
    const line = (error as { lines?: number }).lines ?? 1
    const problem = error instanceof Error ? error.message : String(error)
    return { entries: [], problems: [{ line, problem }], meta: { header: [], bom } }
  }
  const [first, ...lines] = records
  const meta: CsvMeta = { header: first?.record ?? [], bom }
  if (first !== undefined && column(meta, 'first') < 0 && column(meta, 'organization') < 0) {
    const problem =
      'not a Google Contacts CSV: its header has no "First Name" nor "Organization Name"'
    return { entries: [], problems: [{ line: 1, problem }], meta }
  }
  const entries: Entry[] = []
  const problems: EntryProblem[] = []
  let previous = first?.info.lines ?? 0
  for (const { record, info } of lines) {
    const line = previous + 1
    previous = info.lines
    const read = readLine(meta, record, `${file}#${entries.length + 1}`)
    if (typeof read === 'string') problems.push({ line, problem: read })
    else entries.push({ ...read, line })
  }
  return { entries, problems, meta }
}

function readLine(meta: CsvMeta, line: Line, fallbackKey: string): Omit<Entry, 'line'> | string {
  const get = (field: Field) => valueOf(meta, line, field)
  const [first, last, organization, email] = [
    get('first'),
    get('last'),
    get('organization'),
    get('email'),
  ]
  const custom: CustomValues = {}
  for (const [index, name] of meta.header.entries()) {
    const match = CUSTOM.exec(name)
    if (match?.[2] !== 'Label' || (line[index] ?? '') === '') continue
    const value = meta.header.indexOf(`Custom Field ${match[1]} - Value`)
    custom[line[index]!] = value < 0 ? '' : (line[value] ?? '')
  }
  const labelsAt = column(meta, 'labels')
  const groups = labelsAt < 0 ? [] : labels(line[labelsAt] ?? '').groups
  const optional = (value: string) => (value === '' ? null : value)
  if (first === '' && last === '' && organization !== '') {
    const key = get('id') || `org:${organization}`
    const row: LocalRow = {
      id: key,
      name: organization,
      email: optional(email),
      phone: optional(get('phone')),
      website: optional(get('website')),
    }
    return { handle: line, table: 'organizations', key, row, custom, groups, organization: '' }
  }
  // A contact with no name (a phone number only) is a person all the same: its line is
  // kept and written back, and the mapping reports it as a bad row (a name is required).
  const key =
    get('id') || email.toLowerCase() || `${first} ${last}`.trim() || get('phone') || fallbackKey
  // A birthday without a year (--MM-dd), which a canonical date can't hold, reads as none.
  const birthday = get('birthday').startsWith('--') ? '' : get('birthday')
  const row: LocalRow = {
    id: key,
    first_name: first,
    last_name: last,
    email: optional(email),
    phone: optional(get('phone')),
    birthday: optional(birthday),
    title: optional(get('title')),
    organization_id: null,
  }
  return { handle: line, table: 'persons', key, row, custom, groups, organization }
}

/** A Labels value's groups, and Google's own labels ("* myContacts"), kept apart. */
function labels(value: string): { groups: string[]; own: string[] } {
  const all = value
    .split(SEPARATOR)
    .map((label) => label.trim())
    .filter((label) => label !== '')
  return {
    groups: all.filter((label) => !label.startsWith('* ')),
    own: all.filter((label) => label.startsWith('* ')),
  }
}

/** A row's value as a CSV field ('' for none). */
function fieldText(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint'
    ? String(value)
    : ''
}

/**
 * Sets the line's column for the field (added to the header where the file has none). A
 * multi-value keeps its other values: objectsync models the first.
 */
function set(meta: CsvMeta, line: Line, field: Field, value: unknown): void {
  let index = column(meta, field)
  const text = fieldText(value)
  if (index < 0) {
    if (text === '') return
    meta.header.push(COLUMNS[field][0])
    index = meta.header.length - 1
  }
  while (line.length <= index) line.push('')
  const rest = (line[index] ?? '').split(SEPARATOR).slice(1)
  line[index] = [text, ...rest].join(SEPARATOR)
}

function updateLine(meta: CsvMeta, line: Line, content: EntryContent): void {
  const { row } = content
  const has = (name: string) => name in row
  if (content.table === 'organizations') {
    if (has('name')) set(meta, line, 'organization', row.name)
    if (has('website')) set(meta, line, 'website', row.website)
  } else {
    if (has('first_name')) set(meta, line, 'first', row.first_name)
    if (has('last_name')) set(meta, line, 'last', row.last_name)
    // A birthday without a year reads as none: it stays until one with a year is written.
    const yearless = valueOf(meta, line, 'birthday').startsWith('--')
    if (has('birthday') && !(yearless && (row.birthday ?? null) === null)) {
      set(meta, line, 'birthday', row.birthday)
    }
    if (has('title')) set(meta, line, 'title', row.title)
    if (has('organization_id')) {
      if (row.organization_id === null) set(meta, line, 'organization', '')
      else if (content.organizationName !== undefined) {
        set(meta, line, 'organization', content.organizationName)
      }
    }
  }
  if (has('email')) set(meta, line, 'email', row.email)
  if (has('phone')) set(meta, line, 'phone', row.phone)
  if (content.groups !== undefined) {
    const at = column(meta, 'labels')
    const own = at < 0 ? [] : labels(line[at] ?? '').own
    const value = [...own, ...content.groups].join(SEPARATOR)
    if (at >= 0 || value !== '') {
      const index = at >= 0 ? at : meta.header.push(COLUMNS.labels[0]) - 1
      while (line.length <= index) line.push('')
      line[index] = value
    }
  }
  if (content.custom !== undefined) writeCustom(meta, line, content.custom)
}

/** The Custom Field pairs, in order, as the record's custom fields; more pairs where needed. */
function writeCustom(meta: CsvMeta, line: Line, custom: CustomValues): void {
  const entries = Object.entries(custom)
  for (let n = 1; ; n++) {
    const label = meta.header.indexOf(`Custom Field ${n} - Label`)
    if (label < 0 && n > entries.length) break
    const [labelAt, valueAt] = [
      label >= 0 ? label : meta.header.push(`Custom Field ${n} - Label`) - 1,
      meta.header.indexOf(`Custom Field ${n} - Value`) >= 0
        ? meta.header.indexOf(`Custom Field ${n} - Value`)
        : meta.header.push(`Custom Field ${n} - Value`) - 1,
    ]
    while (line.length < meta.header.length) line.push('')
    const [name, value] = entries[n - 1] ?? ['', '']
    line[labelAt] = name
    line[valueAt] = value
  }
}

/** Google Contacts CSV files: many contacts each; a new record is a line of the first file. */
export const GOOGLE_CSV_FORMAT: FolderFormat = {
  name: 'Google Contacts CSV',
  extension: '.csv',
  read: readCsv,
  update: (entry, content, meta) => {
    const line = entry.handle as Line
    updateLine(meta as CsvMeta, line, content)
    // A line keyed by its e-mail or name whose write changes them keeps its key (as its
    // own id, a column added where the export has none).
    const read = readLine(meta as CsvMeta, line, entry.key)
    if (typeof read !== 'string' && read.key !== entry.key) {
      set(meta as CsvMeta, line, 'id', entry.key)
    }
  },
  create: (key, content, meta) => {
    const line: Line = []
    set(meta as CsvMeta, line, 'id', key)
    updateLine(meta as CsvMeta, line, { ...content, groups: content.groups ?? [] })
    return line
  },
  write: (handles, meta) => {
    const { header, bom } = meta as CsvMeta
    const lines = handles.map((handle) => {
      const line = [...(handle as Line)]
      while (line.length < header.length) line.push('')
      return line
    })
    // A field with a line break is quoted whatever the record delimiter (csv-stringify
    // quotes only fields holding the delimiter itself: a lone \n would split the line).
    const text = stringify([header, ...lines], {
      record_delimiter: '\r\n',
      quoted_match: /[\r\n]/,
    })
    return (bom ? '\ufeff' : '') + text
  },
  newFile: (_key, files) => files[0] ?? 'contacts.csv',
  emptyMeta: () => ({ header: ['First Name'], bom: false }),
}
