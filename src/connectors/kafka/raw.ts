import type { Consumer } from '@platformatic/kafka'

/**
 * The client objects behind our wrappers, for the few places inside this folder that must hand one wrapper's
 * client to another (a transaction commits a consumer's offsets). Not exported from the package.
 */
const consumers = new WeakMap<object, Consumer>()

export function registerRawConsumer(wrapper: object, consumer: Consumer): void {
  consumers.set(wrapper, consumer)
}

export function rawConsumer(wrapper: object): Consumer {
  const consumer = consumers.get(wrapper)
  if (!consumer) throw new Error('internal: consumer wrapper without a client')
  return consumer
}
