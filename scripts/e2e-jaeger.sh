#!/usr/bin/env bash
# The tracing check against a real Jaeger (make e2e-jaeger): builds Jaeger v2
# once into the user's cache, starts it on 127.0.0.1 with in-memory storage
# (tools/jaeger/config.yaml), runs the test in e2e/jaeger (build tag jaeger)
# and stops Jaeger again, whatever happens. Exits with the test's status.
#
# The first run compiles Jaeger (~8 min on 2 cores); later runs reuse the
# binary. Every step has a time limit, so the script always ends by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

go=${GO:-go}
version=$(awk '$1 == "github.com/jaegertracing/jaeger" { print $2; exit }' tools/jaeger/go.mod)
if [ -z "$version" ]; then
	echo "e2e-jaeger: no github.com/jaegertracing/jaeger version in tools/jaeger/go.mod" >&2
	exit 1
fi
cache=${XDG_CACHE_HOME:-$HOME/.cache}/dispatchd/jaeger-$version
bin=$cache/jaeger
config=$PWD/tools/jaeger/config.yaml
health=http://127.0.0.1:13133/status

if [ -x "$bin" ]; then
	echo "== Jaeger $version: $bin"
else
	echo "== building Jaeger $version into $cache (the first time takes several minutes)"
	mkdir -p "$cache"
	start=$SECONDS
	# go.sum in tools/jaeger is complete: the build needs only the module proxy.
	(cd tools/jaeger && timeout 30m "$go" build -o "$bin.tmp" github.com/jaegertracing/jaeger/cmd/jaeger)
	mv "$bin.tmp" "$bin"
	echo "   built in $((SECONDS - start)) s"
fi

# A listener left on one of Jaeger's ports (another Jaeger, say) would make
# the test query the wrong process: refuse to start instead.
for port in 4317 4318 13133 16685 16686; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "e2e-jaeger: 127.0.0.1:$port is already in use; stop what listens there first" >&2
		exit 1
	fi
done

log=$(mktemp "${TMPDIR:-/tmp}/dispatchd-jaeger.XXXXXX.log")
"$bin" --config "$config" >"$log" 2>&1 &
jaeger_pid=$!

stop_jaeger() {
	if kill -0 "$jaeger_pid" 2>/dev/null; then
		kill -TERM "$jaeger_pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$jaeger_pid" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "$jaeger_pid" 2>/dev/null; then
			echo "e2e-jaeger: Jaeger did not stop within 10 s of SIGTERM; killing it" >&2
			kill -KILL "$jaeger_pid" 2>/dev/null || true
		fi
	fi
	wait "$jaeger_pid" 2>/dev/null || true
	rm -f "$log"
}
trap stop_jaeger EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== starting Jaeger (log: $log)"
ready=
for _ in $(seq 150); do # 30 s
	if ! kill -0 "$jaeger_pid" 2>/dev/null; then
		echo "e2e-jaeger: Jaeger exited during start-up:" >&2
		cat "$log" >&2
		exit 1
	fi
	if curl -fsS -m 1 -o /dev/null "$health" 2>/dev/null; then
		ready=1
		break
	fi
	sleep 0.2
done
if [ -z "$ready" ]; then
	echo "e2e-jaeger: Jaeger not healthy at $health within 30 s:" >&2
	cat "$log" >&2
	exit 1
fi
echo "   healthy at $health; OTLP on 127.0.0.1:4317, query API on http://127.0.0.1:16686"

status=0
timeout 10m "$go" test -tags jaeger -count=1 -v -timeout 5m ./e2e/jaeger/ || status=$?
if [ "$status" -ne 0 ]; then
	echo "== Jaeger's log (last 40 lines)"
	tail -n 40 "$log"
fi
exit "$status"
