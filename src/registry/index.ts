/** Avro, Protobuf and JSON Schema in the Confluent wire format, with a Confluent-compatible schema registry. */
export {
  type RegisteredSchema,
  RegistryClient,
  type RegistryConnection,
  type SubjectVersion,
} from './client.ts'
export { type Codec, codecFor } from './codec.ts'
export { RegistryError } from './errors.ts'
export {
  isRegistryParser,
  type RegistryDecoder,
  type RegistryOptions,
  type RegistryParser,
  registry,
} from './registry-parser.ts'
export { FORMATS, type RegistryFormat, SCHEMA_TYPES, type SchemaType } from './schema-type.ts'
export { frame, unframe } from './wire-format.ts'
