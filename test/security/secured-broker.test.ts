import { after, before } from 'node:test'
import { type SecureKafka, startSecureKafka } from '../helpers/secure-kafka.ts'
import { leastPrivilegeTests } from './least-privilege.ts'
import { mtlsTests } from './mtls.ts'
import { saslSslTests } from './sasl-ssl.ts'

/**
 * The tests against the secured local broker (`sluice kafka start --secure`) share one: starting it takes
 * ~30 s here, most of it the JDK's keytool creating the CA and certificates. They run in this order, one
 * after another; the least-privilege tests come last because they change the `sluice` user's ACLs.
 */
let kafka: SecureKafka | undefined
before(async () => {
  kafka = await startSecureKafka()
})
after(async () => {
  await kafka?.stop()
})

function broker(): SecureKafka {
  if (!kafka) throw new Error('the secured broker did not start')
  return kafka
}

saslSslTests(broker)
mtlsTests(broker)
leastPrivilegeTests(broker)
