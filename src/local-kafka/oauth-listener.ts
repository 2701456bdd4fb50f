/**
 * How long an OAUTHBEARER session on the test listener lasts at most before the client must re-authenticate
 * (shorter when the token expires sooner). Short, so that a test sees re-authentication within seconds.
 */
export const OAUTH_TEST_REAUTH_MS = 10_000

const UNSECURED_VALIDATOR =
  'org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler'

/**
 * server.properties lines of the OAUTH listener (SASL_PLAINTEXT on 127.0.0.1, OAUTHBEARER only). FOR TESTS ONLY:
 * Kafka's unsecured validator accepts any unsigned JWS (alg "none") whose `exp` is in the future, so anyone who
 * can reach the port can be any user, the super user `admin` included (the token's `sub` is the principal).
 * A real cluster validates signed tokens against its identity provider's keys
 * (org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler with a JWKS URL).
 */
export const OAUTH_TEST_LISTENER_LINES: readonly string[] = [
  'listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER',
  // The broker never logs in over this listener; the login module is required by the JAAS set-up all the same.
  'listener.name.oauth.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="admin";',
  `listener.name.oauth.oauthbearer.sasl.server.callback.handler.class=${UNSECURED_VALIDATOR}`,
  `listener.name.oauth.oauthbearer.connections.max.reauth.ms=${OAUTH_TEST_REAUTH_MS}`,
]
