// How a record is named to people (the status page, the CLI, search): a person by first
// and last name, an organization by its name, a transaction by type, date and amount, a
// file by its name. Search compares what people type with these and the email, folded.
import type { FieldValue } from './fields.ts'

type Fields = Readonly<Record<string, FieldValue | undefined>>

/** The record's name as people read it; '' when the fields that make it are missing. */
export function objectLabel(type: string | undefined, fields: Fields): string {
  const text = (name: string) => {
    const value = fields[name]
    return typeof value === 'string' ? value.trim() : ''
  }
  switch (type) {
    case 'person':
      return join([text('firstName'), text('lastName')])
    case 'organization':
      return text('name')
    case 'transaction':
      return join([text('type'), text('date'), join([text('amount'), text('currency')])])
    case 'file':
      return text('name')
    default:
      return ''
  }
}

function join(parts: string[]): string {
  return parts.filter((part) => part.length > 0).join(' ')
}

/** Text as search compares it: case, accents, spacing and Unicode forms aside. */
export function searchForm(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/\s+/g, ' ').trim()
}

/**
 * Whether a record with these fields is one a search for `query` (in searchForm) finds:
 * every word of the query in its name or email.
 */
export function matchesSearch(type: string | undefined, fields: Fields, query: string): boolean {
  const email = typeof fields.email === 'string' ? fields.email : ''
  const text = searchForm(`${objectLabel(type, fields)} ${email}`)
  return query.split(' ').every((word) => text.includes(word))
}
