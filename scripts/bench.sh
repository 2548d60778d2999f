#!/usr/bin/env bash
# bench.sh: the figures of `make bench` on this machine. Go micro-benchmarks of every
# package, the operator UI's size and time to first values, then the loopback load harness
# (cmd/maskbench) against bin/maskserviced.
# Arguments go to maskbench, e.g. scripts/bench.sh -only ws,baseline -clients 500.
# Exit status: maskbench's (0 even over budget; non-zero when the harness fails).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

daemon=bin/maskserviced
if [[ ! -x "$daemon" ]]; then
	echo "bench.sh: $daemon is missing or not executable; run 'make build' first" >&2
	exit 1
fi

# Name the machine, so the figures mean something when read elsewhere.
cpu_model() {
	local m
	m=$(grep -m1 -E '^(model name|Model name)[[:space:]]*:' /proc/cpuinfo 2>/dev/null | cut -d: -f2- || true)
	if [[ -z "$m" && -r /proc/device-tree/model ]]; then
		m=$(tr -d '\0' </proc/device-tree/model)
	fi
	if [[ -z "$m" ]] && command -v lscpu >/dev/null; then
		m=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)
	fi
	m=${m:-unknown}
	echo "${m#"${m%%[![:space:]]*}"}" # without leading blanks
}
echo "== machine =="
echo "arch:  $(uname -m)"
echo "cpus:  $(nproc)"
echo "cpu:   $(cpu_model)"
echo "go:    $(go version)"
echo "date:  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
# The history's disk-write benchmark reads /proc/self/io write_bytes, which a tmpfs does not
# count: it then runs under ~/.cache (or MASKSERVICE_BENCH_DIR) and logs where.
echo "tmp:   ${TMPDIR:-/tmp} on $(df -PT "${TMPDIR:-/tmp}" | awk 'NR == 2 { print $1 " (" $2 ")" }')"

echo
echo "== Go micro-benchmarks =="
go test -run='^$' -bench=. -benchmem -count=1 ./...

echo
echo "== operator UI =="
# The gzipped size of what the LCD loads, and the time from navigation to the first live
# values in Debian's chromium with 4x CPU throttling (the LCD flow of the browser test).
node web/ui/scripts/size.mjs
node web/ui/e2e/run.mjs --daemon "$daemon" --only lcd | grep -E '^(ui|e2e):'

echo
echo "== loopback load (cmd/maskbench) =="
# The baseline runs as its own process, like the daemon: in-process it would share a Go
# runtime with the 1000 load clients and look slower than it is.
go run ./cmd/maskbench -daemon "$daemon" -baseline-proc "$@"
