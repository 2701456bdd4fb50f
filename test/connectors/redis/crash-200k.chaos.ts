import { describe } from 'node:test'
import type { Positions } from '../../../src/runtime/source.ts'
import { crash200kTest } from '../sql/crash-200k.ts'
import type { Click } from '../sql/crash-200k-input.ts'
import { keysOf, tempDir, useRedis } from './util.ts'

const { server, client } = useRedis()

/** A stream entry of crash_clicks as a Click: fields are text, a null field was left out. */
function clickOf(m: Readonly<Record<string, string>>): Click {
  const text = (name: string) => m[name] ?? null
  const number = (name: string) => (m[name] === undefined ? null : Number(m[name]))
  return {
    event_id: m.event_id ?? '',
    event_type: m.event_type ?? '',
    event_time: m.event_time ?? '',
    user_id: m.user_id ?? '',
    session_id: m.session_id ?? '',
    platform: m.platform ?? '',
    country: m.country ?? '',
    path: m.path ?? '',
    product_id: text('product_id'),
    price: number('price'),
    cart_items: number('cart_items'),
    order_total: number('order_total'),
  }
}

async function entries(stream: string): Promise<Record<string, string>[]> {
  return ((await client().xRange(stream, '-', '+')) ?? []).map((e) => e.message as Record<string, string>)
}

describe('redis sink: SIGKILL during a 200k-event run', () => {
  crash200kTest({
    kind: 'redis',
    batchRecords: 4000,
    location: () => server().url,
    clicks: async () => (await entries('crash_clicks')).map(clickOf),
    clickIds: async () => (await entries('crash_clicks')).map((m) => m.event_id ?? ''),
    counts: async () => {
      const keys = await keysOf(client(), 'crash_counts:*')
      const hashes = await Promise.all(keys.map((key) => client().hGetAll(key)))
      return hashes.map((h) => ({
        key: h.key ?? '',
        window_start: new Date(h.window_start ?? NaN).toISOString(),
        events: Number(h.events),
        items: Number(h.items),
      }))
    },
    deadLetters: async (pipelineId) =>
      (await entries('sluice:dead-letters'))
        .filter((m) => m.pipeline === pipelineId)
        .map((m) => `${m.partition}@${m.offset}`),
    positions: async (pipelineId): Promise<Positions> => {
      const { '@batch': _batch, ...positions } = await client().hGetAll(`sluice:positions:${pipelineId}`)
      return Object.fromEntries(Object.entries(positions).map(([p, n]) => [p, Number(n)]))
    },
    tempDir,
  })
})
