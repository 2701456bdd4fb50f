#!/usr/bin/env bash
# What the test suite needs besides node_modules (npm test runs this first, as its pretest): Java 17+ and
# Maven (the local broker), PostgreSQL, MariaDB and Redis (each test starts a private server on 127.0.0.1),
# Java 21+ (Apicurio Registry, the schema registry tests), Chromium (the dashboard's browser test), Go and
# what it builds: the S3-compatible server (the lake tests) and FerretDB (the MongoDB sink tests), and
# PyIceberg in a cached venv (the Iceberg lake tests' independent reader).
# As root it installs what is missing (apt-get, then the Go module proxy); otherwise it says, one line per
# missing piece, what to install, and fails. SLUICE_TEST_SETUP=skip skips it (you know what you have).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SLUICE_TEST_SETUP:-}" = skip ] && exit 0

# Debian package → why the tests need it, for each piece not found.
declare -A why=()
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ]; then why[openjdk-17-jre-headless]='Java 17+ runs the local Kafka broker'; fi
command -v mvn >/dev/null 2>&1 || why[maven]="Maven fetches Kafka's jars from Maven Central"
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 || why[postgresql]='the PostgreSQL sink tests start a private server'
command -v mariadbd >/dev/null 2>&1 || command -v mysqld >/dev/null 2>&1 || why[mariadb-server]='the MariaDB/MySQL sink tests start a private server'
command -v redis-server >/dev/null 2>&1 || why[redis-server]='the Redis sink tests start a private server'
[ -x /usr/bin/chromium ] || why[chromium]="the dashboard's browser test drives headless Chromium"
python3 -c 'import ensurepip' >/dev/null 2>&1 || why[python3-venv]="PyIceberg (in a venv) reads the Iceberg lake tests' tables"
command -v go >/dev/null 2>&1 || why[golang-go]="Go builds the lake tests' S3-compatible server (versitygw) and the MongoDB sink tests' FerretDB"
# Apicurio Registry (the schema registry tests' server, fetched by Maven on first use) needs Java 21+ beside
# the broker's Java 17: JAVA21_HOME, or any JDK under /usr/lib/jvm or /opt (test/helpers/apicurio.ts).
java21() {
  for java in ${JAVA21_HOME:+$JAVA21_HOME/bin/java} /usr/lib/jvm/*/bin/java /opt/*/bin/java; do
    [ -x "$java" ] && [ "$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)" -ge 21 ] 2>/dev/null && return 0
  done
  return 1
}
java21 || why[openjdk-21-jre-headless]='Java 21+ runs Apicurio Registry, the schema registry tests start (or set JAVA21_HOME)'

if [ ${#why[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-setup: installing ${!why[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${!why[@]}"
  else
    for package in "${!why[@]}"; do
      echo "test-setup: missing ${package} (${why[$package]}): sudo apt-get install ${package}" >&2
    done
    echo "test-setup: install the above (or run as root, which installs them), then npm test again" >&2
    exit 1
  fi
fi
scripts/install-s3-server.sh
scripts/install-pyiceberg.sh
scripts/install-ferretdb.sh
