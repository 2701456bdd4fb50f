/** The registry's names for the three formats. */
export type SchemaType = 'AVRO' | 'PROTOBUF' | 'JSON'

/** The CLI's and YAML's names for them. */
export const FORMATS = ['avro', 'protobuf', 'json-schema'] as const
export type RegistryFormat = (typeof FORMATS)[number]

export const SCHEMA_TYPES: Readonly<Record<RegistryFormat, SchemaType>> = {
  avro: 'AVRO',
  protobuf: 'PROTOBUF',
  'json-schema': 'JSON',
}
