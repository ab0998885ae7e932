// Deterministic, realistic person records for benchmarks: the same inputs every run.
import type { Fields } from '../src/model/index.ts'

const FIRST = ['Anna', 'Jonas', 'Maria', 'Ole', 'Ingrid', 'Lars', 'Sofie', 'Erik', 'Nora', 'Henrik']
const LAST = [
  'Larsen',
  'Hansen',
  'Johansen',
  'Olsen',
  'Berg',
  'Dahl',
  'Lie',
  'Moen',
  'Strand',
  'Bakke',
]
const TITLES = ['Coordinator', 'Volunteer', 'Treasurer', 'Donor relations', 'Board member']

export function person(i: number): Fields {
  const first = FIRST[i % FIRST.length]!
  const last = LAST[Math.floor(i / FIRST.length) % LAST.length]!
  const month = String((i % 12) + 1).padStart(2, '0')
  const day = String((i % 28) + 1).padStart(2, '0')
  return {
    firstName: first,
    lastName: `${last}-${i}`,
    email: `${first}.${last}.${i}@example.org`.toLowerCase(),
    phone: `+47 ${String(40_000_000 + i).slice(0, 8)}`,
    birthday: `${1950 + (i % 50)}-${month}-${day}`,
    title: TITLES[i % TITLES.length]!,
    roles: i % 3 === 0 ? ['donor', 'volunteer'] : ['donor'],
  }
}
