// vCard files (RFC 2426 3.0, RFC 6350 4.0) as a folder connector's records: a file is
// split into its cards by their BEGIN/END lines (so one bad card is a bad row naming its
// file and line, and the file's other cards still read), each card parsed with ical.js,
// and read as a row of the default schema's `persons` or `organizations` (a card with
// KIND:org, vCard 4, or Apple's X-ABShowAs:COMPANY, vCard 3). Writing changes only the
// properties objectsync models and keeps every other one as it was, in the card's own
// version; a new record is a new vCard 4.0 card.
import ICAL from 'ical.js'
import { createHash } from 'node:crypto'
import type { CustomValues } from '../connector.ts'
import type { Entry, EntryContent, EntryProblem, FolderFormat } from './format.ts'

type Card = Omit<Entry, 'handle'> & { handle: ICAL.Component }

/** Custom fields: X-OBJECTSYNC-CUSTOM;NAME=<name>:<value>. */
const CUSTOM = 'x-objectsync-custom'
const VERSIONS = new Set(['3.0', '4.0'])

/** The cards of a file's text, and the parts that are not cards that read (`file` names cards without a UID). */
function readCards(file: string, text: string): { cards: Card[]; problems: EntryProblem[] } {
  const cards: Card[] = []
  const problems: EntryProblem[] = []
  const lines = text.replace(/^\ufeff/, '').split(/\r?\n/)
  let begin: number | undefined
  for (const [index, line] of lines.entries()) {
    const upper = line.trim().toUpperCase()
    if (upper === 'BEGIN:VCARD') {
      if (begin !== undefined)
        problems.push({ line: begin + 1, problem: 'a card with no END:VCARD' })
      begin = index
    } else if (upper === 'END:VCARD' && begin !== undefined) {
      const block = lines.slice(begin, index + 1).join('\r\n')
      const read = readCard(block, file)
      if (typeof read === 'string') problems.push({ line: begin + 1, problem: read })
      else cards.push({ ...read, key: unique(read.key, cards), line: begin + 1 })
      begin = undefined
    } else if (begin === undefined && upper !== '') {
      problems.push({
        line: index + 1,
        problem: `not part of a card: ${JSON.stringify(line.slice(0, 40))}`,
      })
    }
  }
  if (begin !== undefined) problems.push({ line: begin + 1, problem: 'a card with no END:VCARD' })
  return { cards, problems }
}

/** A key no earlier card of the file has (cards with no UID and one name: `#2`, `#3` …). */
function unique(key: string, cards: readonly Card[]): string {
  let candidate = key
  for (let n = 2; cards.some((card) => card.key === candidate); n++) candidate = `${key}#${n}`
  return candidate
}

/**
 * One card. Its key is its UID; a card with none is keyed by its file and name
 * (`contacts#Ada Lovelace`: kept when cards move, unlike a place in the file), and given
 * that as its UID when it is first written.
 */
function readCard(block: string, file: string): Omit<Card, 'line'> | string {
  let component: ICAL.Component
  try {
    component = new ICAL.Component(ICAL.parse(block) as unknown[])
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
  const version = text(component.getFirstPropertyValue('version'))
  if (!VERSIONS.has(version)) {
    return `vCard version ${JSON.stringify(version)}: objectsync reads 3.0 and 4.0`
  }
  const fn = text(component.getFirstPropertyValue('fn'))
  const key = text(component.getFirstPropertyValue('uid')) || `${file}#${fn}`
  const custom: CustomValues = {}
  for (const property of component.getAllProperties(CUSTOM)) {
    const name = property.getParameter('name')
    if (typeof name === 'string' && name !== '') custom[name] = text(property.getFirstValue())
  }
  const groups = component
    .getAllProperties('categories')
    .flatMap((property) => property.getValues().map(text))
    .filter((group) => group !== '')
  if (isOrganization(component)) {
    const name = first(component.getFirstPropertyValue('org')) || fn
    return {
      handle: component,
      table: 'organizations',
      key,
      row: {
        id: key,
        name,
        email: optional(component.getFirstPropertyValue('email')),
        phone: phone(component),
        website: optional(component.getFirstPropertyValue('url')),
      },
      custom,
      groups,
      organization: '',
    }
  }
  const name = component.getFirstPropertyValue('n')
  const parts = Array.isArray(name) ? name.map(text) : [text(name)]
  const organization = first(component.getFirstPropertyValue('org'))
  return {
    handle: component,
    table: 'persons',
    key,
    row: {
      id: key,
      // A card with a formatted name only (no N): its last word the last name.
      first_name: parts[0] || parts[1] ? (parts[1] ?? '') : fn.split(' ').slice(0, -1).join(' '),
      last_name: parts[0] || parts[1] ? (parts[0] ?? '') : (fn.split(' ').at(-1) ?? ''),
      email: optional(component.getFirstPropertyValue('email')),
      phone: phone(component),
      birthday: birthday(component.getFirstPropertyValue('bday')),
      title: optional(component.getFirstPropertyValue('title')),
      role: optional(component.getFirstPropertyValue('role')),
      organization_id: null,
    },
    custom,
    groups,
    organization,
  }
}

function isOrganization(component: ICAL.Component): boolean {
  const kind = text(component.getFirstPropertyValue('kind')).toLowerCase()
  const showAs = text(component.getFirstPropertyValue('x-abshowas')).toUpperCase()
  return kind === 'org' || showAs === 'COMPANY'
}

/** A property's value as text ('' for none). */
function text(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  if (Array.isArray(value)) return value.map(text).join(',')
  return (value as { toString(): string }).toString()
}

function optional(value: unknown): string | null {
  const read = text(value).trim()
  return read === '' ? null : read
}

/** TEL as text: a vCard 4 `tel:` URI (VALUE=uri) without its scheme. */
function phone(component: ICAL.Component): string | null {
  return optional(text(component.getFirstPropertyValue('tel')).replace(/^tel:/i, ''))
}

/** The first part of a structured value (ORG's organization name). */
function first(value: unknown): string {
  return (Array.isArray(value) ? text(value[0]) : text(value)).trim()
}

/**
 * A birthday as yyyy-MM-dd. One without a year (--MM-dd), which a canonical date can't
 * hold, reads as none, and stays in the card (see writeCard).
 */
function birthday(value: unknown): string | null {
  const read = text(value).trim()
  const date = /^(\d{4})-?(\d{2})-?(\d{2})/.exec(read)
  return date === null ? null : `${date[1]}-${date[2]}-${date[3]}`
}

/** A new vCard 4.0 card for a record (UID: its key). */
function newCard(key: string, content: EntryContent): ICAL.Component {
  const component = new ICAL.Component(['vcard', [], []])
  component.addPropertyWithValue('version', '4.0')
  component.addPropertyWithValue('uid', key)
  if (content.table === 'organizations') component.addPropertyWithValue('kind', 'org')
  writeCard(component, content)
  return component
}

/**
 * Sets the modelled properties of the card to the content: each column written replaces
 * its property's first value (keeping its parameters) or removes it when empty; every
 * property objectsync doesn't model stays as it was.
 */
function writeCard(component: ICAL.Component, content: EntryContent): void {
  const { row } = content
  const set = (name: string, value: unknown) => {
    const written = value === null || value === undefined ? '' : text(value)
    const properties = component.getAllProperties(name)
    const property = properties[0]
    if (written === '') {
      // The card's other values of it (a second e-mail) stay, after an empty first: read
      // back, the field is still empty, not the next value.
      if (properties.length > 1) property!.setValue('')
      else if (property !== undefined) component.removeProperty(property)
    } else if (property !== undefined) property.setValue(written)
    else component.addPropertyWithValue(name, written)
  }
  if (content.table === 'organizations') {
    if ('name' in row) {
      set('fn', row.name)
      setOrg(component, text(row.name))
    }
    if ('email' in row) set('email', row.email)
    if ('phone' in row) set('tel', telValue(component, row.phone))
    if ('website' in row) set('url', row.website)
  } else {
    if ('first_name' in row || 'last_name' in row) {
      const name = component.getFirstProperty('n')
      const value: unknown = name?.getFirstValue()
      const parts = Array.isArray(value) ? value.map(text) : ['', '', '', '', '']
      if ('last_name' in row) parts[0] = text(row.last_name)
      if ('first_name' in row) parts[1] = text(row.first_name)
      if (name !== null) name.setValue(parts)
      else {
        const property = new ICAL.Property('n', component)
        property.setValue(parts)
        component.addProperty(property)
      }
      set('fn', [parts[1], parts[0]].filter((part) => part !== '').join(' '))
    }
    if ('email' in row) set('email', row.email)
    if ('phone' in row) set('tel', telValue(component, row.phone))
    // A birthday without a year reads as none: it stays until one with a year is written.
    const yearless = text(component.getFirstPropertyValue('bday')).startsWith('--')
    if ('birthday' in row && !(yearless && (row.birthday ?? null) === null)) {
      set('bday', row.birthday)
    }
    if ('title' in row) set('title', row.title)
    if ('role' in row) set('role', row.role)
    if ('organization_id' in row) {
      if (row.organization_id === null) setOrg(component, '')
      else if (content.organizationName !== undefined) setOrg(component, content.organizationName)
    }
  }
  if (content.custom !== undefined) {
    for (const property of component.getAllProperties(CUSTOM)) component.removeProperty(property)
    for (const [name, value] of Object.entries(content.custom)) {
      const property = new ICAL.Property(CUSTOM, component)
      property.setParameter('name', name)
      property.setValue(value)
      component.addProperty(property)
    }
  }
  if (content.groups !== undefined) {
    for (const property of component.getAllProperties('categories')) {
      component.removeProperty(property)
    }
    if (content.groups.length > 0) {
      const property = new ICAL.Property('categories', component)
      property.setValues([...content.groups])
      component.addProperty(property)
    }
  }
}

/** A phone number as the card's TEL holds it: a `tel:` URI where it holds one. */
function telValue(component: ICAL.Component, value: unknown): unknown {
  if (value === null || value === undefined || text(value) === '') return value
  const held = text(component.getFirstPropertyValue('tel'))
  return /^tel:/i.test(held) ? `tel:${text(value)}` : value
}

/** ORG's organization name, its units (after the first ';') kept. */
function setOrg(component: ICAL.Component, name: string): void {
  const property = component.getFirstProperty('org')
  if (name === '') {
    if (property !== null) component.removeProperty(property)
    return
  }
  if (property === null) {
    component.addPropertyWithValue('org', name)
    return
  }
  const value = property.getFirstValue()
  property.setValue(Array.isArray(value) ? [name, ...value.slice(1).map(text)] : name)
}

/** vCard files: one or many cards each; a new record is a vCard 4.0 file of its own. */
export const VCARD_FORMAT: FolderFormat = {
  name: 'vCard',
  extension: '.vcf',
  read: (file, text) => {
    const { cards, problems } = readCards(file, text)
    return { entries: cards, problems, meta: undefined }
  },
  update: (entry, content) => {
    const component = entry.handle as ICAL.Component
    // A card without a UID keeps the key it was read by from now on.
    if (component.getFirstProperty('uid') === null) component.addPropertyWithValue('uid', entry.key)
    writeCard(component, content)
  },
  create: (key, content) => newCard(key, content),
  write: (handles) =>
    handles.map((card) => (card as ICAL.Component).toString()).join('\r\n') +
    (handles.length > 0 ? '\r\n' : ''),
  newFile: (key) => `${fileName(key)}.vcf`,
  emptyMeta: () => undefined,
}

/** A file name for a new record's card: its key where it is a safe name, else its hash. */
function fileName(key: string): string {
  return /^[A-Za-z0-9._-]{1,100}$/.test(key) && !key.startsWith('.')
    ? key
    : createHash('sha256').update(key).digest('hex').slice(0, 32)
}
