/**
 * An error message for the dashboard with what looks like a credential masked: the password of a connection
 * URL (postgres://user:pw@host) and the value after password=, secret=, token= and the like. Error messages
 * are written by drivers, not by us, and some repeat the connection string they were given.
 */
export function redactSecrets(message: string): string {
  return message
    .replace(/(\/\/[^\s:/@]+):[^\s@/]+@/g, '$1:***@')
    .replace(
      /\b(password|passwd|pwd|secret|token|api[_-]?key|sasl[._-]?password)(["']?\s*[:=]\s*["']?)[^\s"'&,;]+/gi,
      '$1$2***',
    )
}
