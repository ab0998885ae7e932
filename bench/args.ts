// Command-line figures of the benchmark scripts: a wrong one stops the script, exit 2.

/** `text` as an integer ≥ `min`, or exit 2 naming the option. */
export function positiveArg(name: string, text: string | undefined, min = 1): number {
  const value = Number(text)
  if (!Number.isInteger(value) || value < min) {
    process.stderr.write(`--${name}: expected an integer ≥ ${min}, got ${text}\n`)
    process.exit(2)
  }
  return value
}
