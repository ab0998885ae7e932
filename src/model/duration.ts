// Durations as people write them in config files and on the command line: "24h", "30m",
// "7d", "500ms", "10s" — or a number of milliseconds.

const DURATION = /^(\d+)\s*(ms|s|m|h|d)$/
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** The duration in milliseconds, or undefined when it can't be read. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined
  if (typeof value !== 'string') return undefined
  const match = DURATION.exec(value.trim())
  if (match === null) return undefined
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
  return Number.isSafeInteger(ms) ? ms : undefined
}

/**
 * The longest an invite may be valid: pairing is for soon, and a lifetime of years would
 * take its expiry past what a Date holds (`9007199254740991ms`).
 */
export const MAX_INVITE_MS = 365 * 24 * 60 * 60 * 1000

/** Whether `value` is an invite lifetime (`30m`, `2h`, `7d`: more than 0, at most a year). */
export function isInviteLifetime(value: string): boolean {
  const ms = parseDuration(value) ?? 0
  return ms > 0 && ms <= MAX_INVITE_MS
}

export const INVITE_LIFETIME_EXPECTED = 'expected a duration of at most a year, e.g. 30m, 2h or 7d'
