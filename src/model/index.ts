// The canonical model: the four object types of INTERFACE.md, their fields, branded ids
// and validation. Everything that crosses an edge into objectsync is checked here.
export * from './ids.ts'
export * from './fields.ts'
export * from './validate.ts'
export * from './duration.ts'
export * from './names.ts'
export * from './labels.ts'
