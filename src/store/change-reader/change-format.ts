// The constants of Automerge's change chunk that the narrow reader (change-chunk.ts) and
// writer (change-writer.ts) share: one place, so the two can't disagree.

export const MAGIC = [0x85, 0x6f, 0x4a, 0x83]
export const CHANGE_CHUNK = 1

// Op column specs: (column id << 4) | encoding, in the ascending order a column table
// lists them. Only these may appear in the narrow form.
export const OBJ_ACTOR = 0x01
export const OBJ_CTR = 0x02
export const KEY_ACTOR = 0x11
export const KEY_CTR = 0x13
export const KEY_STR = 0x15
export const INSERT = 0x34
export const ACTION = 0x42
export const VALUE_META = 0x56
export const VALUE_RAW = 0x57
export const PRED_COUNT = 0x70
export const PRED_ACTOR = 0x71
export const PRED_CTR = 0x73

// Action codes in the action column (Automerge's order; 'del' is 3).
export const ACTION_MAKE_MAP = 0
export const ACTION_SET = 1
export const ACTION_MAKE_LIST = 2
export const ACTION_DEL = 3

// Automerge refuses op counters past 32 bits ("counter too large"); stay well inside.
export const MAX_COUNTER = 2 ** 31

// The most ops (and predecessors) the narrow reader reads from one change. Run-length
// columns can name a billion ops in a few bytes; a change with more than this is left to
// the general path, which is not where a first sync's time goes. A facet's change sets a
// field or a few dozen.
export const MAX_OPS = 2 ** 16

// Value type codes in the low four bits of a value's metadata (its length in bytes << 4).
export const VALUE_NULL = 0
export const VALUE_FALSE = 1
export const VALUE_TRUE = 2
export const VALUE_UINT = 3
export const VALUE_INT = 4
export const VALUE_FLOAT = 5
export const VALUE_STRING = 6
