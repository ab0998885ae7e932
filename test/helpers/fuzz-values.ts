// Random values for the fuzz tests, from one seeded generator (random.ts), so that a run
// is replayed by its seed: texts with the characters that break parsers (controls,
// bidi marks, lone surrogates, quotes, percent signs), huge texts, odd numbers, and
// random JSON values nested deeply.
import { seededRandom } from './random.ts'

export interface Random {
  /** In [0, 1). */
  next(): number
  /** A whole number in [0, n). */
  int(n: number): number
  /** A whole number in [min, max]. */
  between(min: number, max: number): number
  chance(probability: number): boolean
  pick<T>(items: readonly T[]): T
}

export function createRandom(seed: number): Random {
  const next = seededRandom(seed)
  const int = (n: number) => Math.floor(next() * n)
  return {
    next,
    int,
    between: (min, max) => min + int(max - min + 1),
    chance: (probability) => next() < probability,
    pick: (items) => items[int(items.length)]!,
  }
}

/** Characters and pieces that have broken parsers, encoders and regular expressions. */
export const AWKWARD_PIECES = [
  'é',
  'ü',
  'ß',
  'İ',
  '漢字',
  'ﷺ',
  '😀',
  '👩‍👩‍👧',
  'e\u0301',
  '\u0000',
  '\u0007',
  '\u001b[31m',
  '\u007f',
  '\u0085',
  '\u00a0',
  '\u2028',
  '\u202e',
  '\u200b',
  '\ufeff',
  '\ud800',
  '\udfff',
  '\uffff',
  '\n',
  '\r\n',
  '\t',
  ' ',
  '"',
  "'",
  '\\',
  '`',
  '<script>',
  '%',
  '%00',
  '/',
  '..',
  '?',
  '#',
  '&',
  '=',
  '+',
  ',',
  ';',
  '@',
  '{}',
  '[]',
  'null',
  'NaN',
  'undefined',
  '__proto__',
]

const PLAIN = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.'

/** A short text of plain letters and digits. */
export function plainText(random: Random, maxLength = 12): string {
  let text = ''
  for (let n = random.between(1, maxLength); n > 0; n--) text += PLAIN[random.int(PLAIN.length)]
  return text
}

/** A text of up to `maxPieces` pieces, plain or awkward. */
export function awkwardText(random: Random, maxPieces = 8): string {
  let text = ''
  for (let n = random.int(maxPieces + 1); n > 0; n--) {
    text += random.chance(0.5) ? plainText(random, 6) : random.pick(AWKWARD_PIECES)
  }
  return text
}

/** A text of `length` UTF-16 units, around the limits that bodies and fields have. */
export function longText(random: Random, length: number): string {
  const unit = random.pick(['x', 'é', '😀', 'ab'])
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length)
}

/** Numbers at the edges: signs, fractions, the safe-integer limits, overflow. */
export const ODD_NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.5,
  -1.5,
  1e-7,
  2 ** 31,
  -(2 ** 31),
  2 ** 32,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  -Number.MAX_SAFE_INTEGER - 2,
  8.64e15,
  1e21,
  1.7976931348623157e308,
  5e-324,
]

/** A random JSON value, nested up to `depth` levels. */
export function jsonValue(random: Random, depth = 3): unknown {
  const kind = random.int(depth > 0 ? 8 : 5)
  switch (kind) {
    case 0:
      return null
    case 1:
      return random.chance(0.5)
    case 2:
      return random.chance(0.5) ? random.pick(ODD_NUMBERS) : random.between(-1000, 1000)
    case 3:
    case 4:
      return awkwardText(random)
    case 5:
      return Array.from({ length: random.int(4) }, () => jsonValue(random, depth - 1))
    default:
      return Object.fromEntries(
        Array.from({ length: random.int(4) }, () => [
          random.chance(0.8) ? plainText(random, 8) : awkwardText(random, 3),
          jsonValue(random, depth - 1),
        ]),
      )
  }
}

/** JSON text nested `depth` levels deep: arrays, objects, or both. */
export function deeplyNested(random: Random, depth: number): string {
  if (random.chance(0.5)) return '['.repeat(depth) + ']'.repeat(depth)
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
}

/** Texts that are not JSON, or are JSON that parsers are known to treat specially. */
export const NOT_JSON = [
  '',
  ' ',
  '{',
  '}',
  '{"a":}',
  "{'a':1}",
  '{"a":1,}',
  '[1,]',
  '{"a":1}x',
  '{"a":1}{"b":2}',
  'NaN',
  'Infinity',
  '-',
  'undefined',
  'nul',
  '\ufeff{}',
  '{"a":"\\u12"}',
  '{"a":"\u0000"}',
  '{"a":"\\ud800"}',
  '1e999',
  '-0',
  '"\\"',
  '{"__proto__":{"polluted":1}}',
  '{"constructor":{"prototype":{"polluted":1}}}',
  '{"a":1,"a":2}',
  '\u0000',
  '%7B%7D',
  'a=1&b=2',
]

/** A 64-digit hex text, a sha256 in form. */
export function hex64(random: Random): string {
  let text = ''
  for (let i = 0; i < 64; i++) text += '0123456789abcdef'[random.int(16)]
  return text
}

/** Random bytes. */
export function randomBytesOf(random: Random, length: number): Buffer {
  const bytes = Buffer.alloc(length)
  for (let i = 0; i < length; i++) bytes[i] = random.int(256)
  return bytes
}
