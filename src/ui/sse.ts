import type { IncomingMessage, ServerResponse } from 'node:http'

/**
 * Server-sent events to every open page. EventSource reconnects by itself, and each connection starts with
 * a full snapshot, so a page that lost its connection needs no catching up beyond that.
 */
export class EventHub {
  readonly #clients = new Set<ServerResponse>()

  get size(): number {
    return this.#clients.size
  }

  /** Takes over the response as an event stream; `first` is sent to this client only. */
  open(request: IncomingMessage, response: ServerResponse, first: { event: string; data: unknown }): void {
    startStream(response)
    response.write(frame(first.event, first.data))
    this.#clients.add(response)
    request.once('close', () => this.#clients.delete(response))
  }

  send(event: string, data: unknown): void {
    if (this.#clients.size === 0) return
    const text = frame(event, data)
    for (const client of this.#clients) client.write(text)
  }

  close(): void {
    for (const client of this.#clients) client.end()
    this.#clients.clear()
  }
}

/** Takes over the response as an event stream of its own (one client); returns how to send it an event. */
export function openStream(response: ServerResponse): (event: string, data: unknown) => void {
  startStream(response)
  return (event, data) => {
    if (!response.writableEnded) response.write(frame(event, data))
  }
}

function startStream(response: ServerResponse): void {
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-content-type-options': 'nosniff',
  })
  response.write('retry: 2000\n\n')
}

function frame(event: string, data: unknown): string {
  // JSON has no raw newlines, so one data line per event.
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
}
