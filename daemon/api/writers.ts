// How answers name the instances that wrote something, and when: by name as this instance
// knows it (its own, a paired peer's), the id for any other; a stamp's time as ISO text.
import type { InstanceId } from '../../src/model/index.ts'

/** The name of this instance or of a paired peer; undefined for an instance not known here. */
export type NameOf = (instance: InstanceId) => string | undefined

/** A writer as answers show it: its id, and its name here (else its id again). */
export function writerJson(id: InstanceId, nameOf: NameOf): { id: InstanceId; name: string } {
  return { id, name: nameOf(id) ?? id }
}

/** A stamp's time as ISO text; null when absent or out of range (a peer's stamp). */
export function isoTime(at: number | undefined): string | null {
  if (at === undefined) return null
  const date = new Date(at)
  return Number.isNaN(date.getTime()) ? null : date.toISOString()
}
