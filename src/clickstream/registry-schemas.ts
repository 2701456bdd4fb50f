import { readFileSync } from 'node:fs'
import type { RegisteredSchema } from '../registry/client.ts'
import type { RegistryFormat } from '../registry/schema-type.ts'
import { EVENT_TYPES, PLATFORMS } from './event.ts'

/**
 * The clickstream event (README's event table) as an Avro schema, a .proto file and the JSON Schema of
 * schemas/, for `sluice produce --format avro|protobuf|json-schema`. Fields present only on some event types
 * are optional: null in Avro when absent, unset in Protobuf (proto3 `optional`, or a message field: null).
 */
const optional = (type: unknown) => ({ type: ['null', type], default: null })

export const CLICK_EVENT_AVRO = {
  type: 'record',
  name: 'ClickEvent',
  namespace: 'sluice.clickstream',
  fields: [
    { name: 'schema_version', type: 'int' },
    { name: 'event_id', type: 'string' },
    { name: 'event_type', type: { type: 'enum', name: 'EventType', symbols: [...EVENT_TYPES] } },
    { name: 'event_time', type: 'string' },
    { name: 'user_id', type: 'string' },
    { name: 'anonymous_id', type: 'string' },
    { name: 'session_id', type: 'string' },
    { name: 'platform', type: { type: 'enum', name: 'Platform', symbols: [...PLATFORMS] } },
    {
      name: 'device',
      type: {
        type: 'record',
        name: 'Device',
        fields: [
          { name: 'type', type: 'string' },
          { name: 'os', type: 'string' },
          { name: 'browser', ...optional('string') },
          { name: 'app_version', ...optional('string') },
        ],
      },
    },
    { name: 'country', type: 'string' },
    {
      name: 'page',
      type: {
        type: 'record',
        name: 'Page',
        fields: [
          { name: 'url', type: 'string' },
          { name: 'path', type: 'string' },
          { name: 'referrer', type: ['null', 'string'] },
          { name: 'title', type: 'string' },
        ],
      },
    },
    {
      name: 'utm',
      type: [
        'null',
        {
          type: 'record',
          name: 'Utm',
          fields: ['source', 'medium', 'campaign'].map((name) => ({ name, type: 'string' })),
        },
      ],
    },
    {
      name: 'product',
      ...optional({
        type: 'record',
        name: 'Product',
        fields: [
          { name: 'id', type: 'string' },
          { name: 'name', type: 'string' },
          { name: 'category', type: 'string' },
          { name: 'price', type: 'double' },
        ],
      }),
    },
    { name: 'search_query', ...optional('string') },
    {
      name: 'cart',
      ...optional({
        type: 'record',
        name: 'Cart',
        fields: [
          { name: 'items', type: 'int' },
          { name: 'value', type: 'double' },
        ],
      }),
    },
    {
      name: 'order',
      ...optional({
        type: 'record',
        name: 'Order',
        fields: [
          { name: 'order_id', type: 'string' },
          { name: 'total', type: 'double' },
          { name: 'currency', type: 'string' },
          { name: 'items', type: 'int' },
        ],
      }),
    },
    {
      name: 'error',
      ...optional({
        type: 'record',
        name: 'EventError',
        fields: [
          { name: 'code', type: 'string' },
          { name: 'message', type: 'string' },
        ],
      }),
    },
  ],
} as const

export const CLICK_EVENT_PROTO = `syntax = "proto3";
package sluice.clickstream;

message ClickEvent {
  int32 schema_version = 1;
  string event_id = 2;
  string event_type = 3;
  string event_time = 4;
  string user_id = 5;
  string anonymous_id = 6;
  string session_id = 7;
  string platform = 8;
  Device device = 9;
  string country = 10;
  Page page = 11;
  Utm utm = 12;
  Product product = 13;
  optional string search_query = 14;
  Cart cart = 15;
  Order order = 16;
  EventError error = 17;
}

message Device {
  string type = 1;
  string os = 2;
  optional string browser = 3;
  optional string app_version = 4;
}

message Page {
  string url = 1;
  string path = 2;
  optional string referrer = 3;
  string title = 4;
}

message Utm {
  string source = 1;
  string medium = 2;
  string campaign = 3;
}

message Product {
  string id = 1;
  string name = 2;
  string category = 3;
  double price = 4;
}

message Cart {
  int32 items = 1;
  double value = 2;
}

message Order {
  string order_id = 1;
  double total = 2;
  string currency = 3;
  int32 items = 4;
}

message EventError {
  string code = 1;
  string message = 2;
}
`

const JSON_SCHEMA_FILE = new URL('../../schemas/clickstream-event.schema.json', import.meta.url)

/** The clickstream event's schema in a format, as the registry takes it. */
export function clickEventSchemaFor(format: RegistryFormat): RegisteredSchema {
  switch (format) {
    case 'avro':
      return { schemaType: 'AVRO', schema: JSON.stringify(CLICK_EVENT_AVRO) }
    case 'protobuf':
      return { schemaType: 'PROTOBUF', schema: CLICK_EVENT_PROTO }
    case 'json-schema':
      return { schemaType: 'JSON', schema: readFileSync(JSON_SCHEMA_FILE, 'utf8') }
  }
}
