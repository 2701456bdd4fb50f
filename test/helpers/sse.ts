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
      buffer = takeSseEvents(buffer + chunk, events)
    })
  })
  req.on('error', () => {})
  req.end()
  return { events, close: () => req.destroy() }
}

/** Parses the whole frames at the start of `buffer` into `events` and returns what is left (a partial frame). */
export function takeSseEvents(buffer: string, events: SseEvent[]): string {
  let rest = buffer
  let end = rest.indexOf('\n\n')
  while (end >= 0) {
    const frame = rest.slice(0, end)
    rest = rest.slice(end + 2)
    const event = /^event: (.*)$/m.exec(frame)?.[1]
    const data = /^data: (.*)$/m.exec(frame)?.[1]
    if (event && data !== undefined) events.push({ event, data: JSON.parse(data) as unknown })
    end = rest.indexOf('\n\n')
  }
  return rest
}
