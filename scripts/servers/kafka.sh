#!/usr/bin/env bash
# A throwaway single-node Apache Kafka 3.9.1 broker (KRaft, combined
# broker+controller) on 127.0.0.1, run from the jars install-deps.sh fetched.
#   kafka.sh start DIR [--owner PID [--cleanup]]   prints KAFKA_BOOTSTRAP=127.0.0.1:PORT
#   kafka.sh stop DIR
#   kafka.sh down DIR [--kill] | up DIR | restart DIR [--kill]   (same ports, same data)
# KAFKA_HEAP_OPTS overrides the JVM heap (default -Xms256m -Xmx768m).
set -euo pipefail
# shellcheck source=scripts/servers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Exits 0 once the broker answers a Metadata request (v1, no topics) listing
# at least one broker: an open port alone can come before the broker has
# caught up with the metadata log.
metadata_probe='
import socket, struct, sys
port = int(sys.argv[1])
client = b"ltxbus-testbed"
body = struct.pack(">hhih", 3, 1, 7, len(client)) + client + struct.pack(">i", 0)
with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
    s.sendall(struct.pack(">i", len(body)) + body)
    data = b""
    while len(data) < 12:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit(1)
        data += chunk
size, corr, brokers = struct.unpack(">iii", data[:12])
sys.exit(0 if corr == 7 and brokers >= 1 else 1)
'

# kafka_java_opts DIR: sets the array java_opts (the caller declares it
# local) to the JVM options shared by the storage tool and the broker.
kafka_java_opts() {
  local libs
  libs="$(ltxbus_tools_dir)/kafka-3.9.1/libs"
  [[ -f "$libs/kafka_2.13-3.9.1.jar" ]] || srv_missing "Kafka 3.9.1 jars ($libs)"
  command -v java >/dev/null || srv_missing java
  java_opts=(-Djava.awt.headless=true "-Dlog4j.configuration=file:$1/log4j.properties"
    "-Dkafka.logs.dir=$1/logs" -cp "$libs/*")
}

# kafka_run DIR PORT: starts the broker configured in DIR and waits until it
# serves metadata.
kafka_run() {
  local dir="$1" port="$2" deadline java_opts
  kafka_java_opts "$dir"
  # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS is a list of JVM flags.
  srv_spawn "$dir" java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    "${java_opts[@]}" kafka.Kafka "$dir/server.properties"
  deadline=$((SECONDS + 90))
  srv_wait_port "$dir" "$port" 90 || return 1
  until python3 -c "$metadata_probe" "$port" 2>/dev/null; do
    srv_pid_alive "$(cat "$dir/pid")" || { log "the broker exited during startup"; return 1; }
    ((SECONDS < deadline)) || { log "timed out waiting for broker metadata"; return 1; }
    sleep 0.2
  done
}

srv_launch() {
  local dir="$1" port cport cluster_id java_opts
  kafka_java_opts "$dir"
  port="$(free_port)"
  cport="$(free_port)"
  rm -rf "$dir/data"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
PROPS
  cat >"$dir/log4j.properties" <<'PROPS'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
PROPS
  # A Kafka cluster id is base64url of 16 random bytes; one starting with '-' would be
  # taken for an option by the storage tool, so draw again until it does not.
  cluster_id="$(python3 -c 'import base64, uuid
while True:
    c = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not c.startswith("-"):
        print(c)
        break')"
  timeout 60 java -Xmx256m -XX:TieredStopAtLevel=1 "${java_opts[@]}" kafka.tools.StorageTool \
    format -t "$cluster_id" -c "$dir/server.properties" >>"$dir/server.log" 2>&1 || return 1
  kafka_run "$dir" "$port" || return 1
  printf 'KAFKA_BOOTSTRAP=127.0.0.1:%s\n' "$port" >"$dir/env.new"
}

# Same ports (they are in server.properties), same log directory: the broker
# recovers its topics, and after a crash (down --kill) its logs, from DIR/data.
srv_relaunch() {
  kafka_run "$1" "$(srv_env_port "$1" KAFKA_BOOTSTRAP)"
}

srv_main "${BASH_SOURCE[0]}" "$@"
