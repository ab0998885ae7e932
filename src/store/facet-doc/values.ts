// Field values between the model (FieldValue) and the document (StoredValue): strings
// are stored as ImmutableString, so a field is replaced whole, never merged per
// character, which is what users of records expect and costs about half of Automerge
// text.
import * as A from '@automerge/automerge'
import type { FieldValue } from '../../model/index.ts'
import type { StoredScalar, StoredValue } from './layout.ts'

function encodeScalar(value: string | number | boolean): StoredScalar {
  return typeof value === 'string' ? new A.ImmutableString(value) : value
}

export function encodeValue(value: FieldValue): StoredValue {
  if (Array.isArray(value)) return value.map(encodeScalar)
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encodeScalar(v)]))
  }
  return encodeScalar(value)
}

// Documents come from peers too: anything that is not a shape we write decodes to
// undefined and is dropped, rather than passing a stray Automerge type to callers.
function decodeScalar(value: unknown): string | number | boolean | undefined {
  if (value instanceof A.ImmutableString) return value.val
  if (typeof value === 'boolean' || typeof value === 'number') return value
  if (typeof value === 'string') return value
  // Automerge reads integers near 2^53 back as bigint.
  if (typeof value === 'bigint' && Number.isSafeInteger(Number(value))) return Number(value)
  return undefined
}

export function decodeValue(value: unknown): FieldValue | undefined {
  if (Array.isArray(value)) {
    const items = value.map(decodeScalar)
    return items.every((item) => typeof item === 'string') ? items : undefined
  }
  if (typeof value === 'object' && value !== null && !(value instanceof A.ImmutableString)) {
    const entries = Object.entries(value).map(([k, v]) => [k, decodeScalar(v)] as const)
    if (!entries.every(([, v]) => typeof v === 'string')) return undefined
    return Object.fromEntries(entries) as Record<string, string>
  }
  return decodeScalar(value)
}

export function sameValue(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  if (a === b) return true
  if (a === undefined || b === undefined) return false
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, index) => item === b[index])
    )
  }
  if (typeof a === 'object' && typeof b === 'object') {
    const keys = Object.keys(a)
    return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key])
  }
  return false
}
