import { addPartitionsToTxnV3, kGetApi, type Producer } from '@platformatic/kafka'

type GetApi = (name: string, callback: (error: Error | null, api?: unknown) => void) => void

/** The newest AddPartitionsToTxn version a client may send: 4 and later are the brokers' own (KIP-890). */
const CLIENT_MAX_VERSION = 3

/**
 * Makes the producer send AddPartitionsToTxn at version 3 when the broker offers more. The client (2.12.1)
 * picks the broker's newest, 5 on Kafka 4.x, but versions 4+ are the batched form brokers send each other,
 * which the broker authorizes as CLUSTER_ACTION on the cluster: every transaction of a user that is not a
 * super user failed with CLUSTER_AUTHORIZATION_FAILED. Version 3 takes the same arguments (one transaction)
 * and needs what Java's producer needs: WRITE on the transactional id and on the topic.
 */
export function useClientAddPartitionsToTxn(producer: Producer): void {
  const target = producer as unknown as Record<typeof kGetApi, GetApi>
  const getApi = target[kGetApi].bind(producer)
  target[kGetApi] = (name, callback) =>
    getApi(name, (error, api) => {
      const version = (api as { version?: number } | undefined)?.version ?? 0
      if (error || name !== 'AddPartitionsToTxn' || version <= CLIENT_MAX_VERSION) return callback(error, api)
      callback(null, addPartitionsToTxnV3.api)
    })
}
