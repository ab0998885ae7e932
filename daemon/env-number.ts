// Whole numbers the daemon reads from its environment (its memory settings), each
// refused the same way when it is not one: INVALID_CONFIG naming the variable, which
// `start` turns into exit code 2 before anything starts.
import { ObjectSyncError } from '../src/errors.ts'

/**
 * The whole number `env[name]` holds, or `fallback` when it is unset or blank; anything
 * but a whole number from 0 to `max` is refused, saying it must be `expected`.
 */
export function wholeNumberFromEnv(
  env: NodeJS.ProcessEnv,
  name: string,
  options: { fallback: number; max: number; expected: string },
): number {
  const given = env[name]
  if (given === undefined || given.trim() === '') return options.fallback
  const value = /^\s*\d+\s*$/.test(given) ? Number(given) : NaN
  if (!(value >= 0 && value <= options.max)) {
    throw new ObjectSyncError(
      'INVALID_CONFIG',
      `${name} must be ${options.expected}, not ${JSON.stringify(given)}`,
    )
  }
  return value
}
