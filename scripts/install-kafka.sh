#!/usr/bin/env bash
# Installs Apache Kafka (KRaft broker + controller) from Maven Central with Maven, at the pinned
# version. The jars live in the local Maven repository (~/.m2); what this script leaves behind is
# a classpath file pointing at them, so a second run is instant and works offline.
#   scripts/install-kafka.sh          # prints the classpath file's path on its last line
set -euo pipefail

KAFKA_VERSION="4.1.1"
here="$(cd "$(dirname "$0")" && pwd)"
cache="${LANTERN_CACHE:-$HOME/.cache/lantern}/kafka/$KAFKA_VERSION"
classpath_file="$cache/classpath"

require_java_17() {
  if ! command -v java >/dev/null 2>&1; then
    echo "error: Java is not installed. Kafka $KAFKA_VERSION needs Java 17 or newer:" >&2
    echo "       apt-get install openjdk-17-jre-headless   (or any JDK 17+ on PATH / JAVA_HOME)" >&2
    exit 1
  fi
  # `java -version` prints e.g. 'openjdk version "17.0.15" 2025-04-15' (or "1.8.0_392" for 8).
  local version major
  version=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)
  major=${version%%.*}
  if [[ "$major" == "1" ]]; then major=$(echo "$version" | cut -d. -f2); fi
  if [[ -z "$major" || "$major" -lt 17 ]]; then
    echo "error: Kafka $KAFKA_VERSION needs Java 17 or newer; found '${version:-unknown}' at $(command -v java)." >&2
    echo "       apt-get install openjdk-17-jre-headless, or put a JDK 17+ first on PATH." >&2
    exit 1
  fi
}

classpath_complete() {
  [[ -s "$classpath_file" ]] || return 1
  local jar
  while IFS= read -r jar; do
    [[ -f "$jar" ]] || return 1
  done < <(tr ':' '\n' <"$classpath_file")
}

require_java_17
if classpath_complete; then
  echo "Kafka $KAFKA_VERSION already installed (classpath in $classpath_file)"
  echo "$classpath_file"
  exit 0
fi
if ! command -v mvn >/dev/null 2>&1; then
  echo "error: Maven is needed once to fetch Kafka $KAFKA_VERSION from Maven Central: apt-get install maven" >&2
  exit 1
fi
echo "Fetching Apache Kafka $KAFKA_VERSION from Maven Central into the local Maven repository (once)."
mkdir -p "$cache"
mvn -q -B -Dstyle.color=never -f "$here/kafka/pom.xml" \
  -Dkafka.version="$KAFKA_VERSION" \
  -Dmdep.outputFile="$classpath_file.tmp" \
  dependency:build-classpath
mv "$classpath_file.tmp" "$classpath_file"
classpath_complete || { echo "error: Maven reported success but jars are missing; see $classpath_file" >&2; exit 1; }
echo "Kafka $KAFKA_VERSION installed (classpath in $classpath_file)"
echo "$classpath_file"
