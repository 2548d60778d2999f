#!/usr/bin/env bash
# Static checks: formatting, vet on the host and on 32-bit ARM (the device), staticcheck, and
# the layering of DESIGN.md turned into errors:
#   - the root package (the domain) imports only the standard library;
#   - web never depends on hal or store (it gets them through the domain's interfaces);
#   - hal and store never depend on web, nor on each other;
#   - the daemon never links the slave-side tooling (hal/slave), which is for transducer-sim
#     and the tests;
#   - web's own packages (web/auth, web/hub, web/internal/...) never depend on web itself;
#   - cmd/maskserviced carries no domain events: it never subscribes to the event bus nor
#     reads a subscription; the services do (DESIGN.md 3).
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2
fail=0

mapfile -t gofiles < <(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')
unformatted=$(gofmt -l "${gofiles[@]}")
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; fail=1
fi

# The shell scripts: shellcheck (Debian package shellcheck; .ci/run installs it).
if command -v shellcheck >/dev/null; then
	shellcheck scripts/*.sh .ci/run buildroot/board/*/*.sh buildroot/board/*/rootfs-overlay/usr/libexec/* || fail=1
else
	echo "shellcheck is not installed (apt-get install shellcheck): the scripts are not checked"; fail=1
fi

go vet ./...
GOOS=linux GOARCH=arm GOARM=7 go vet ./...
GOOS=linux GOARCH=arm64 go vet ./...

gobin=$(go env GOPATH)/bin
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
	echo "installing staticcheck $STATICCHECK_VERSION"
	go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
"$gobin/staticcheck" ./...

module=$(go list -m)
# deps PKG...: the packages of this module that PKG depends on, directly or not.
deps() { go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' "$@" | grep "^$module" || true; }

root_imports=$(go list -f '{{join .Imports "\n"}}' . | grep '\.' || true)
if [ -n "$root_imports" ]; then
	echo "layering: the root package must import only the standard library, but imports:"; echo "$root_imports"; fail=1
fi
check() { # check WHO FORBIDDEN-PREFIX...
	local who=$1; shift
	local bad
	for forbidden in "$@"; do
		bad=$(deps "./$who/..." | grep "^$module/$forbidden\(/\|$\)" || true)
		if [ -n "$bad" ]; then
			echo "layering: $who must not depend on $forbidden, but depends on:"; echo "$bad"; fail=1
		fi
	done
}
check web hal store
check hal web store
check store web hal
check cmd/maskserviced hal/slave

for pkg in $(go list ./web/... | grep -v "^$module/web$"); do
	if go list -deps -f '{{.ImportPath}}' "$pkg" | grep -qx "$module/web"; then
		echo "layering: $pkg must not depend on $module/web"; fail=1
	fi
done

mapfile -t cmdfiles < <(go list -f '{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}' ./cmd/maskserviced)
events=$(grep -nE '\bSubscribe(\[|\()|\.Publish\(' "${cmdfiles[@]}" || true)
if [ -n "$events" ]; then
	echo "layering: cmd/maskserviced must not carry domain events (the services subscribe themselves):"; echo "$events"; fail=1
fi

if [ "$fail" -ne 0 ]; then
	echo "lint: FAILED"; exit 1
fi
echo "lint: ok"
