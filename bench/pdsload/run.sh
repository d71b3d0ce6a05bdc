#!/bin/sh
# Measures "atlite serve" with pdsload on a fresh file, on loopback, then the
# same commits without HTTP. Usage: bench/pdsload/run.sh [PORT] (from the module root).
set -eu
port=${1:-2599}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
go build -o "$dir/atlite" ./cmd/atlite
go build -o "$dir/pdsload" ./bench/pdsload
# the direct commits before and after the HTTP ones, to see the machine's drift
"$dir/pdsload" --workload commit --n 1000 --concurrency 1
"$dir/pdsload" --workload commit --n 2000 --concurrency 8
echo 'a long load password' | "$dir/atlite" --db "$dir/load.db" init --did did:web:load.example --handle load.test --password-stdin >/dev/null
"$dir/atlite" --db "$dir/load.db" serve --addr 127.0.0.1:$port --handle-domains .test 2>"$dir/serve.log" &
pid=$!
sleep 1
load() { "$dir/pdsload" --url http://127.0.0.1:$port --handle load.test --password 'a long load password' "$@"; }
load --workload createRecord --n 1000 --concurrency 1
load --workload createRecord --n 2000 --concurrency 8
load --workload getRecord --n 5000 --concurrency 1
load --workload getRecord --n 5000 --concurrency 8
load --workload getRepo --n 20 --concurrency 1
load --workload firehose --n 0 --subscribers 1   # first replay
load --workload firehose --n 0 --subscribers 1   # again, pages cached
load --workload firehose --n 0 --subscribers 10
kill $pid; wait $pid || true
# the same repo exported without HTTP, for getRepo's MB/s
s=$(date +%s%N); "$dir/atlite" --db "$dir/load.db" export load.test -o "$dir/load.car"; e=$(date +%s%N)
echo "atlite export: $(stat -c %s "$dir/load.car") bytes in $(( (e - s) / 1000000 )) ms (process start included)"
"$dir/pdsload" --workload commit --n 1000 --concurrency 1
"$dir/pdsload" --workload commit --n 2000 --concurrency 8
