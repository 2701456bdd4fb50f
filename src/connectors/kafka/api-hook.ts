import { type Admin, type Consumer, kGetApi } from '@platformatic/kafka'

/** One protocol API as the client calls it: `api(connection, ...requestArguments, callback)`. */
export type ClientApi = ((...args: unknown[]) => void) & { readonly version: number }
type GetApi = (name: string, callback: (error: Error | null, api?: ClientApi) => void) => void

/**
 * Makes every call `client` makes to the protocol API `name` (any version) go through `wrap`, which gets the
 * client's API function and returns the one to call instead. The client finds its API functions through
 * kGetApi, the only seam it has for this; hooks on one client stack (each wraps the previous lookup).
 */
export function hookApi(
  client: Admin | Consumer,
  name: string,
  wrap: (api: ClientApi) => (...args: unknown[]) => void,
): void {
  const target = client as unknown as Record<typeof kGetApi, GetApi>
  const getApi = target[kGetApi].bind(client)
  const wrapped = new WeakMap<ClientApi, ClientApi>()
  target[kGetApi] = (requested, callback) =>
    getApi(requested, (error, api) => {
      if (error || !api || requested !== name) return callback(error, api)
      let hooked = wrapped.get(api)
      if (!hooked) {
        const call = wrap(api)
        // A Proxy keeps the API's properties (the client reads `version`).
        hooked = new Proxy(api, { apply: (_fn, self, args: unknown[]) => Reflect.apply(call, self, args) })
        wrapped.set(api, hooked)
      }
      callback(null, hooked)
    })
}
