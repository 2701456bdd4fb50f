import type { Collection, MongoClient } from 'mongodb'
import { MongoServerError } from 'mongodb'

/**
 * Whether the server runs multi-document transactions, found by trying one: an upsert of a probe document
 * in a transaction that is then aborted, so nothing stays. A replica set or a sharded cluster takes it; a
 * standalone MongoDB refuses it ("Transaction numbers are only allowed on a replica set member or mongos"),
 * and FerretDB does not know the transaction fields (`update: unknown field "startTransaction"`). Asking
 * hello would not do: FerretDB can be told to call itself a replica set.
 */
export async function supportsTransactions(
  client: MongoClient,
  probe: Collection<{ _id: string }>,
): Promise<boolean> {
  const session = client.startSession()
  try {
    session.startTransaction()
    await probe.updateOne(
      { _id: 'sluice:transaction-probe' },
      { $set: { at: new Date() } },
      { upsert: true, session },
    )
    await session.abortTransaction()
    return true
  } catch (error) {
    if (session.inTransaction()) await session.abortTransaction().catch(() => {})
    if (error instanceof MongoServerError) return false
    throw error
  } finally {
    await session.endSession()
  }
}
