// Mapping between a local system's tables and the canonical types: which table holds an
// entity, which column its key, and how each canonical field reads from and writes to a
// column, with type conversion (text, number, decimal, boolean, dates in a format, comma
// lists, value maps, defaults). The default schema of INTERFACE.md is one such mapping;
// `local.entities` in config.json replaces it entity by entity.
//
//   entity      the shapes (EntityMapping, FieldMapping) and the default schema
//   config      config.json's `local.entities` → a mapping, or INVALID_CONFIG
//   conversion  a column's value ↔ a canonical field's value
export {
  CONVERSIONS,
  defaultEntity,
  type Conversion,
  type EntityMapping,
  type FieldMapping,
  type WhereValue,
} from './entity.ts'
export { mappingFromConfig } from './config.ts'
export {
  RowProblem,
  contentHash,
  readField,
  writeField,
  type LocalValue,
  type ReferenceResolver,
} from './conversion.ts'
