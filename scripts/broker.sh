#!/usr/bin/env bash
# Starts or stops a local single-node Apache Kafka (KRaft: broker and controller in one JVM) on
# loopback, for the quick start, the tests and benchmarks. Installs Kafka first if needed.
#   scripts/broker.sh start [--dir DIR] [--port PORT] [--controller-port PORT] [--advertised-port PORT]
#                           [--secure-port PORT]
#   scripts/broker.sh stop  [--dir DIR]
# DIR (default .lantern/broker) holds server.properties, the durable log directories (formatted
# once, kept across restarts), server.log and the pid. PORT defaults to 9092; the controller
# listens on PORT+1 unless told otherwise. --advertised-port tells clients to connect to another
# port than the one the broker listens on (a test's proxy in front of it). --secure-port adds a
# SASL_SSL listener (TLS with a self-signed certificate for 127.0.0.1, SCRAM-SHA-256 user
# "lantern") as a force's cluster would have; DIR/tls/ca.pem is the certificate to trust and
# DIR/tls/password the user's password. Only on a broker's first start (SCRAM users are created
# when the storage is formatted).
set -euo pipefail

cd "$(dirname "$0")/.."
command="${1:-}"
shift || true
dir=.lantern/broker
port=9092
controller_port=""
advertised_port=""
secure_port=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --controller-port) controller_port="$2"; shift 2 ;;
    --advertised-port) advertised_port="$2"; shift 2 ;;
    --secure-port) secure_port="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
controller_port="${controller_port:-$((port + 1))}"
advertised_port="${advertised_port:-$port}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
pid_file="$dir/pid"
# Heap for a 2-core / 24 GiB machine: the broker's working set is the OS page cache, not the heap.
heap="${LANTERN_KAFKA_HEAP:--Xms256m -Xmx1g}"

running() { [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

write_properties() {
  cat >"$dir/server.properties" <<PROPS
# Written by scripts/broker.sh: a single-node KRaft cluster on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$advertised_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/logs
# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Lantern creates its own topics (lantern topics); a typo must not create a new one.
auto.create.topics.enable=false
# Tests join and leave groups all the time; don't wait 3 s for more members.
group.initial.rebalance.delay.ms=0
# Importers stamp records with when they happened (years ago for a backfill): keep them all,
# as a topic that is the system of record would be kept.
log.retention.ms=-1
num.network.threads=2
num.io.threads=4
PROPS
  if [[ -n "$secure_port" ]]; then
    local password
    password="$(cat "$dir/tls/password")"
    sed -i -e "s|^listeners=.*|&,SASL_SSL://127.0.0.1:$secure_port|" \
      -e "s|^advertised.listeners=.*|&,SASL_SSL://127.0.0.1:$secure_port|" \
      -e "s|^listener.security.protocol.map=.*|&,SASL_SSL:SASL_SSL|" "$dir/server.properties"
    cat >>"$dir/server.properties" <<PROPS
sasl.enabled.mechanisms=SCRAM-SHA-256
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$dir/tls/broker.p12
ssl.keystore.password=$password
ssl.key.password=$password
PROPS
  fi
}

# A self-signed certificate for 127.0.0.1 / localhost, and the SCRAM user's password.
make_tls() {
  [[ -f "$dir/tls/broker.p12" ]] && return 0
  mkdir -p "$dir/tls"
  head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$dir/tls/password"
  local password
  password="$(cat "$dir/tls/password")"
  keytool -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 3650 \
    -dname "CN=localhost" -ext "SAN=IP:127.0.0.1,DNS:localhost" \
    -storetype PKCS12 -keystore "$dir/tls/broker.p12" -storepass "$password" -keypass "$password" \
    >"$dir/tls/keytool.log" 2>&1
  keytool -exportcert -rfc -alias broker -keystore "$dir/tls/broker.p12" -storepass "$password" \
    -file "$dir/tls/ca.pem" >>"$dir/tls/keytool.log" 2>&1
}

start() {
  if running; then
    echo "Kafka already running on 127.0.0.1:$port (pid $(cat "$pid_file"))"
    return 0
  fi
  local p
  for p in "$port" "$controller_port" ${secure_port:+"$secure_port"}; do
    # bash's /dev/tcp connects: something already listens there (another broker?).
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "error: port $p on 127.0.0.1 is already in use, so Kafka cannot listen there." >&2
      echo "       Another broker? scripts/broker.sh stop [--dir DIR] stops one this script started;" >&2
      echo "       or choose other ports with --port / --controller-port." >&2
      exit 1
    fi
  done
  local classpath_file classpath
  classpath_file="$(scripts/install-kafka.sh | tail -n 1)"
  classpath="$(cat "$classpath_file")"
  if [[ -n "$secure_port" ]]; then make_tls; fi
  write_properties
  local java_opts=(-cp "$classpath" "-Dkafka.logs.dir=$dir" "-Dlog4j2.configurationFile=$PWD/scripts/kafka/log4j2.properties")
  if [[ ! -f "$dir/logs/meta.properties" ]]; then
    # A KRaft node's storage is formatted once with a cluster id: 16 random bytes, base64url.
    # Not one starting with "-": the tool's argument parser takes it for an option (1 id in 64
    # did, failing a CI run; Kafka's own Uuid.randomUuid() redraws those too).
    local cluster_id="-"
    while [[ "$cluster_id" == -* ]]; do
      cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    done
    local scram=()
    if [[ -n "$secure_port" ]]; then
      scram=(--add-scram "SCRAM-SHA-256=[name=lantern,password=$(cat "$dir/tls/password")]")
    fi
    java "${java_opts[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$dir/server.properties" "${scram[@]}" >"$dir/format.log" 2>&1 \
      || { echo "formatting $dir/logs failed:" >&2; cat "$dir/format.log" >&2; exit 1; }
  fi
  : >"$dir/server.log"
  # setsid: the broker outlives this script and is not killed by the caller's ctrl-c.
  # shellcheck disable=SC2086
  setsid java $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true "${java_opts[@]}" \
    kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$pid_file"
  # Ready when the server says so (its controller has a quorum and the broker is registered),
  # not merely when the port accepts connections.
  for _ in $(seq 1 1200); do
    if grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null; then
      echo "Kafka listening on 127.0.0.1:$port (pid $(cat "$pid_file"), data in $dir/logs)"
      return 0
    fi
    if ! running; then
      echo "Kafka exited during start-up; last lines of $dir/server.log and stdout.log:" >&2
      tail -n 20 "$dir/server.log" "$dir/stdout.log" >&2
      rm -f "$pid_file"
      exit 1
    fi
    sleep 0.1
  done
  echo "Kafka did not become ready in 120 s; see $dir/server.log" >&2
  exit 1
}

stop() {
  running || { rm -f "$pid_file"; return 0; }
  local pid
  pid="$(cat "$pid_file")"
  # SIGTERM runs Kafka's controlled shutdown, which flushes and closes the logs cleanly.
  kill "$pid"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pid_file"; echo "Kafka stopped"; return 0; }
    sleep 0.1
  done
  echo "Kafka did not stop in 30 s; killing it" >&2
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pid_file"
}

case "$command" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop [--dir DIR] [--port PORT] [--controller-port PORT] [--advertised-port PORT] [--secure-port PORT]" >&2; exit 2 ;;
esac
