#!/bin/sh
# Runs "atlite serve" and the reference TypeScript PDS (@atproto/pds, from
# bench/refpds/package-lock.json) side by side on loopback, at the same time,
# and drives both with bench/pdsload, interleaved: for each workload atlite,
# reference, atlite, reference... (ROUNDS rounds). Prints the raw pdsload
# lines, then a table: workload, round, atlite, reference, ratio.
#
# Usage (from the module root):
#
#	bench/refpds/run.sh
#	ROUNDS=2 SUBS100=0 OUT=/tmp/refpds-run bench/refpds/run.sh
#
# ROUNDS   rounds of every workload (default 2)
# SUBS100  1 (default) also replays the firehose to 100 subscribers and
#          measures latency with 100 live ones; 0 skips those
# WORKLOADS the workloads to run, by their keys, space-separated (default:
#          all of create1 create8 get1 get8 getRepo fire1 fire10 fire100
#          lat10 lat100); getRepo and the firehose replay what the create
#          workloads wrote, so keep those
# COLD     1 restarts atlite serve before each of its firehose replay runs,
#          so that every round of those is cold (an empty frame cache and
#          SQLite page cache; the OS's file cache stays warm, as the
#          reference's does); 0 (default) restarts nothing, so only the
#          first round is cold
# OUT      keep the raw output and the servers' logs in this directory
#          (default: a temporary one, removed at exit)
# APORT, RPORT, the ports of atlite serve and of the reference (2599, 2598)
#
# Both accounts get a did:plc through bench/refpds/fakeplc, a fake PLC
# directory on loopback. The reference runs with its documented PDS_*
# configuration as an operator's pds.env sets it (see start.js): hostname
# pds.test, so its public URL is https://pds.test as behind the usual TLS
# proxy, while it serves plain HTTP on 127.0.0.1; no dev mode (it would
# validate every response), no AppView, report service, crawlers or email
# (so nothing calls out), invites off, request logs on (LOG_ENABLED=true) to
# a file, as atlite's request log goes to a file.
set -eu
rounds=${ROUNDS:-2}
subs100=${SUBS100:-1}
cold=${COLD:-0}
workloads=${WORKLOADS:-create1 create8 get1 get8 getRepo fire1 fire10 fire100 lat10 lat100}
aport=${APORT:-2599}
rport=${RPORT:-2598}
dir=$(mktemp -d)
out=${OUT:-$dir}
mkdir -p "$out"
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for p in "$aport" "$rport"; do
	if curl -s "http://127.0.0.1:$p/" >/dev/null 2>&1; then
		echo "run.sh: port $p is already in use" >&2
		exit 1
	fi
done
if [ ! -d bench/refpds/node_modules/@atproto/pds ]; then
	(cd bench/refpds && npm ci --no-audit --no-fund)
fi
go build -o "$dir/atlite" ./cmd/atlite
go build -o "$dir/pdsload" ./bench/pdsload
go build -o "$dir/fakeplc" ./bench/refpds/fakeplc

"$dir/fakeplc" >"$dir/plc.url" 2>"$out/fakeplc.log" &
pids="$pids $!"
for _ in $(seq 50); do [ -s "$dir/plc.url" ] && break; sleep 0.1; done
plc=$(cat "$dir/plc.url")

pw='a long load password'
# atlite: a fresh file, its did:plc published to the fake directory
echo "$pw" | "$dir/atlite" --db "$dir/load.db" init --handle load.test --pds "http://127.0.0.1:$aport" --plc "$plc" --password-stdin >/dev/null
serve_atlite() {
	"$dir/atlite" --db "$dir/load.db" serve --addr "127.0.0.1:$aport" --handle-domains .test 2>>"$out/atlite-serve.log" &
	apid=$!
	pids="$pids $apid"
}
: >"$out/atlite-serve.log"
serve_atlite

# the reference: a fresh data directory, an account through createAccount
mkdir -p "$dir/pds/blocks"
(
	cd bench/refpds
	PDS_HOSTNAME=pds.test \
	PDS_PORT=$rport \
	PDS_DATA_DIRECTORY="$dir/pds" \
	PDS_BLOBSTORE_DISK_LOCATION="$dir/pds/blocks" \
	PDS_BLOB_UPLOAD_LIMIT=52428800 \
	PDS_JWT_SECRET=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n') \
	PDS_ADMIN_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n') \
	PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n') \
	PDS_DID_PLC_URL="$plc" \
	PDS_INVITE_REQUIRED=false \
	LOG_ENABLED=true \
	exec node start.js >"$out/refpds.log" 2>"$out/refpds.err"
) &
rpid=$!
pids="$pids $rpid"

up() {
	for _ in $(seq 300); do
		curl -sf "http://127.0.0.1:$1/xrpc/_health" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "run.sh: nothing answers on port $1" >&2
	cat "$out/refpds.err" >&2
	exit 1
}
up "$aport"
up "$rport"
curl -sS -X POST -H 'Content-Type: application/json' \
	-d "{\"handle\":\"load.pds.test\",\"email\":\"load@example.com\",\"password\":\"$pw\"}" \
	"http://127.0.0.1:$rport/xrpc/com.atproto.server.createAccount" >"$out/refpds-account.json"
if ! grep -q '"accessJwt"' "$out/refpds-account.json"; then
	echo "run.sh: the reference's createAccount failed: $(cat "$out/refpds-account.json")" >&2
	exit 1
fi
echo "reference: $(node -p 'require("./bench/refpds/node_modules/@atproto/pds/package.json").version' ) on node $(node --version); atlite: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "start: $(date -u +%FT%TZ), load: $(uptime | sed 's/.*load average: //'), workloads: $workloads, cold: $cold"

raw="$out/raw.txt"
: >"$raw"
# the CPU time a process has used, in clock ticks (utime + stime)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# one workload on both servers, ROUNDS times, interleaved; after each run,
# the CPU time its server used during it
both() {
	key=$1
	shift
	case " $workloads " in
	*" $key "*) ;;
	*) return 0 ;;
	esac
	r=1
	while [ "$r" -le "$rounds" ]; do
		echo "# $key round $r, load $(uptime | sed 's/.*load average: //')" | tee -a "$raw"
		for side in atlite reference; do
			if [ $side = atlite ]; then
				case "$cold $key" in
				"1 fire"*)
					# SIGTERM: a graceful shutdown, then a new process
					kill "$apid"
					wait "$apid" 2>/dev/null || true
					serve_atlite
					up "$aport"
					;;
				esac
				url=http://127.0.0.1:$aport handle=load.test pid=$apid
			else
				url=http://127.0.0.1:$rport handle=load.pds.test pid=$rpid
			fi
			t0=$(ticks $pid)
			"$dir/pdsload" --url "$url" --handle "$handle" --password "$pw" "$@" 2>&1 |
				sed "s/^/$side $r $key | /" | tee -a "$raw"
			t1=$(ticks $pid)
			echo "$side $r $key | server CPU $(awk "BEGIN { printf \"%.2f\", ($t1 - $t0) / $hz }") s" | tee -a "$raw"
		done
		r=$((r + 1))
	done
}
both create1 --workload createRecord --n 1000 --concurrency 1
both create8 --workload createRecord --n 2000 --concurrency 8
both get1 --workload getRecord --n 5000 --concurrency 1
both get8 --workload getRecord --n 5000 --concurrency 8
both getRepo --workload getRepo --n 20 --concurrency 1
# a subscriber stops 10 s after its last frame (the time is up to the last
# frame): the reference can pause one subscriber for over 2 s while it
# replays to the others
both fire1 --workload firehose --n 0 --subscribers 1 --idle 10s
both fire10 --workload firehose --n 0 --subscribers 10 --idle 10s
[ "$subs100" = 1 ] && both fire100 --workload firehose --n 0 --subscribers 100 --idle 10s
both lat10 --workload latency --n 200 --subscribers 10
[ "$subs100" = 1 ] && both lat100 --workload latency --n 200 --subscribers 100
echo "end: $(date -u +%FT%TZ), load: $(uptime | sed 's/.*load average: //')"

# the table: one row a workload and round; the ratio is atlite over the
# reference for rates, and the reference over atlite for latencies (so
# above 1 means atlite is faster either way)
echo
awk -F' [|] ' '
function ms(s) {	# a Go duration ("850µs", "1.2ms", "2.5s") in ms
	if (sub(/µs$/, "", s)) return s / 1000
	if (sub(/ms$/, "", s)) return s + 0
	if (sub(/s$/, "", s)) return s * 1000
	return s + 0
}
function field(line, re, strip,    m) {	# the first match of re, less the prefix strip
	if (match(line, re)) { m = substr(line, RSTART, RLENGTH); sub(strip, "", m); return m }
	return ""
}
/^#/ { next }
{
	split($1, h, " "); side = h[1]; round = h[2]; key = h[3]; line = $2
	if (key ~ /^lat/ && line ~ /latency createRecord/) next
	k = key SUBSEP round
	if (line ~ /^server CPU/) { cpu[side, k] = substr(line, 12); next }
	if (!(k in seen)) { seen[k] = 1; order[++n] = k }
	if (key ~ /^(create|get)[18]$/) {
		v = field(line, "[0-9.]+ req/s", " req/s")
		cell = sprintf("%.0f req/s, p50 %s, p99 %s", v, field(line, "p50 [^,]+", "^p50 "), field(line, "p99 [^,]+", "^p99 "))
	} else if (key == "getRepo") {
		v = field(line, "[0-9.]+ MB/s", " MB/s")
		cell = sprintf("%.1f MB/s (%s CAR)", v, field(line, "[(][0-9.]+ kB", "^[(]"))
	} else if (key ~ /^fire/) {
		v = field(line, "[0-9.]+ frames/s", " frames/s")
		d = field(line, "[0-9]+ of [0-9]+ subscribers ended", " of .*")
		mm = field(line, "[0-9]+-[0-9]+ frames a sub", " frames a sub")
		split(mm, m, "-")
		# a subscriber that read fewer frames than another did not get the whole replay
		if (m[1] != m[2] || d != "") short[side, key SUBSEP round] = 1
		cell = sprintf("%.0f frames/s (%s frames a subscriber%s)", v, mm, d != "" ? ", " d " ended by the server" : "")
	} else {
		p50 = field(line, "p50 [^,]+", "^p50 "); p99 = field(line, "p99 [^,]+", "^p99 ")
		v = -ms(p50)	# negative: lower is better
		d = field(line, "[0-9]+ of [0-9]+ subscribers ended", " of .*")
		cell = sprintf("p50 %s, p99 %s%s", p50, p99, d != "" ? ", " d " subscribers ended by the server" : "")
	}
	if (line ~ /pdsload:/) { v = ""; cell = line }
	val[side, k] = v; txt[side, k] = cell
}
END {
	name["create1"] = "createRecord, sequential x1000"
	name["create8"] = "createRecord, 8 in flight x2000"
	name["get1"] = "getRecord, sequential x5000"
	name["get8"] = "getRecord, 8 in flight x5000"
	name["getRepo"] = "sync.getRepo x20"
	name["fire1"] = "firehose replay from 0, 1 subscriber"
	name["fire10"] = "firehose replay from 0, 10 subscribers"
	name["fire100"] = "firehose replay from 0, 100 subscribers"
	name["lat10"] = "write-to-frame latency, 10 live subscribers x200"
	name["lat100"] = "write-to-frame latency, 100 live subscribers x200"
	print "| workload | round | atlite serve | reference PDS | ratio | server CPU s, atlite / reference |"
	print "|---|---|---|---|---|---|"
	for (i = 1; i <= n; i++) {
		split(order[i], kr, SUBSEP)
		a = val["atlite", order[i]]; b = val["reference", order[i]]
		ratio = "-"
		if (a != "" && b != "" && a != 0 && b != 0) ratio = sprintf("%.1fx", a < 0 ? b / a : a / b)
		if (short["atlite", order[i]] || short["reference", order[i]]) ratio = "none: not every subscriber got every frame"
		printf "| %s | %s | %s | %s | %s | %s / %s |\n", name[kr[1]], kr[2], txt["atlite", order[i]], txt["reference", order[i]], ratio, cpu["atlite", order[i]], cpu["reference", order[i]]
	}
}' "$raw" | tee "$out/table.md"
