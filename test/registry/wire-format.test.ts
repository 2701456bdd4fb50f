import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DEFAULT_RECORD_LIMITS } from '../../src/plan/record-limits.ts'
import { readIndexes, writeIndexes } from '../../src/registry/message-indexes.ts'
import { protobufCodec } from '../../src/registry/protobuf-codec.ts'
import { schemaIdOf, unframe } from '../../src/registry/wire-format.ts'

test('protobuf message indexes: the first message is one byte 0, others the count then zigzag indexes', () => {
  assert.deepEqual(writeIndexes([0]), Buffer.from([0]))
  // Confluent's own serializer writes [1, 0] as 4, 2, 0 (zigzag: 2 → 4, 1 → 2).
  assert.deepEqual(writeIndexes([1, 0]), Buffer.from([4, 2, 0]))
  for (const path of [[0], [1], [2, 0, 3], [70]]) {
    const read = readIndexes(Buffer.concat([writeIndexes(path), Buffer.from([9])]))
    assert.ok(read.ok)
    assert.deepEqual(read.path, path)
    assert.deepEqual(read.rest, Buffer.from([9]))
  }
  assert.equal(readIndexes(Buffer.from([0x80])).ok, false)
})

test('a protobuf payload is decoded with the message its indexes name, nested ones included', () => {
  const codec = protobufCodec(
    'syntax = "proto3";\npackage p;\nmessage A { string a = 1; }\nmessage B { int32 b = 1; message C { string c_field = 1; } }\n',
    DEFAULT_RECORD_LIMITS,
  )
  const a = codec.encode({ a: 'x' })
  assert.deepEqual(codec.decode(a), { ok: true, value: { a: 'x' } })
  // Field 1, length-delimited, "yz": as message B.C it is { c_field: 'yz' } (the .proto's names are kept).
  const body = Buffer.from([0x0a, 2, 0x79, 0x7a])
  assert.deepEqual(codec.decode(Buffer.concat([writeIndexes([1, 0]), body])), {
    ok: true,
    value: { c_field: 'yz' },
  })
  assert.deepEqual(codec.decode(Buffer.concat([writeIndexes([3]), body])), {
    ok: false,
    reason: 'protobuf message index [3] is not in the schema',
  })
})

test('the schema id is read big-endian after the magic byte', () => {
  const value = Buffer.from([0, 0x80, 0, 1, 2, 42])
  assert.equal(schemaIdOf(value), 0x80000102)
  assert.deepEqual(unframe(value), { ok: true, id: 0x80000102, payload: Buffer.from([42]) })
  assert.equal(schemaIdOf(Buffer.from([1, 0, 0, 0, 1])), undefined)
})
