import { request } from 'node:http'

/** One server-sent event, its data parsed. */
export interface SseEvent {
  readonly event: string
  readonly data: unknown
}

/** The events of a server-sent stream (the dashboard's /events or /tap) as they arrive, until `close()`. */
export function listenSse(url: string): { events: SseEvent[]; close: () => void } {
  const events: SseEvent[] = []
  let buffer = ''
  const req = request(url, (response) => {
    response.setEncoding('utf8')
    response.on('data', (chunk: string) => {
      buffer += chunk
      let end = buffer.indexOf('\n\n')
      while (end >= 0) {
        const frame = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const event = /^event: (.*)$/m.exec(frame)?.[1]
        const data = /^data: (.*)$/m.exec(frame)?.[1]
        if (event && data) events.push({ event, data: JSON.parse(data) as unknown })
        end = buffer.indexOf('\n\n')
      }
    })
  })
  req.on('error', () => {})
  req.end()
  return { events, close: () => req.destroy() }
}
