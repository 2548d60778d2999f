#!/usr/bin/env bash
# Vendors ReDoc's standalone bundle into web/redoc/ for the offline API reference (/api/redoc).
# The daemon embeds what this writes, so the build needs no network; run this only to move to
# another ReDoc version, then commit web/redoc/.
#
#   scripts/vendor-redoc.sh
#
# To update: set REDOC_VERSION, take REDOC_INTEGRITY from
# `npm view redoc@$REDOC_VERSION dist.integrity`, run this, load /api/redoc in a browser (the
# e2e test does) and commit. The tarball is checked against the pinned integrity, so a
# registry that serves other bytes under the same version fails the run.
#
# Writes web/redoc/redoc.standalone.js.gz (gzip -9 -n: no name, no time stamp, so the same
# input gives the same bytes; with one change to the bundle, below: no logo from a CDN), LICENSE (ReDoc's), the notices of the libraries inside the
# bundle (redoc.standalone.js.LICENSE.txt, worker.js.LICENSE.txt), and VERSION; and points the
# page's script URL (web/redoc/redoc.html, ?v=VERSION) at the new version.
set -euo pipefail
cd "$(dirname "$0")/.."

REDOC_VERSION=2.5.4
REDOC_INTEGRITY=sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==

out=web/redoc
for tool in npm tar gzip openssl base64; do
	command -v "$tool" >/dev/null || { echo "vendor-redoc: $tool is not installed" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --ignore-scripts: packing a registry package runs nothing of it, but say so anyway.
(cd "$tmp" && npm pack --silent --ignore-scripts "redoc@$REDOC_VERSION" >/dev/null)
tgz="$tmp/redoc-$REDOC_VERSION.tgz"
[ -f "$tgz" ] || { echo "vendor-redoc: npm pack wrote no $tgz" >&2; exit 1; }

got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$REDOC_INTEGRITY" ]; then
	echo "vendor-redoc: redoc@$REDOC_VERSION has integrity $got, want the pinned $REDOC_INTEGRITY" >&2
	exit 1
fi

tar -xzf "$tgz" -C "$tmp" package/LICENSE package/bundles
bundle="$tmp/package/bundles/redoc.standalone.js"
[ -s "$bundle" ] || { echo "vendor-redoc: the package has no bundles/redoc.standalone.js" >&2; exit 1; }
# The search worker is inlined into the standalone bundle; its notices file is named by a
# content hash that changes with every version.
workers=("$tmp"/package/bundles/*.worker.js.LICENSE.txt)
if [ "${#workers[@]}" -ne 1 ] || [ ! -f "${workers[0]}" ]; then
	echo "vendor-redoc: want one bundles/*.worker.js.LICENSE.txt, found: ${workers[*]}" >&2
	exit 1
fi

# ReDoc puts Redocly's logo beside "API docs by Redocly" at the foot of its menu, loaded from
# Redocly's CDN: a request that would leave the device (the CSP blocks it, with a console
# error). With an empty src the browser loads nothing and ReDoc's own onError drops the image;
# the words and their link stay. Counted, so that a version that moves the logo fails here.
logo='"https://cdn.redoc.ly/redoc/logo-mini.svg"'
if [ "$(grep -c -F "$logo" "$bundle")" -ne 1 ]; then
	echo "vendor-redoc: want the logo URL $logo on exactly one line of the bundle; check what this version loads from elsewhere" >&2
	exit 1
fi
sed -i 's#"https://cdn\.redoc\.ly/redoc/logo-mini\.svg"#""#' "$bundle"
if grep -q -F "$logo" "$bundle"; then
	echo "vendor-redoc: the logo URL is still in the bundle" >&2
	exit 1
fi

mkdir -p "$out"
gzip -9 -n -c "$bundle" >"$out/redoc.standalone.js.gz"
cp "$tmp/package/LICENSE" "$out/LICENSE"
cp "$tmp/package/bundles/redoc.standalone.js.LICENSE.txt" "$out/redoc.standalone.js.LICENSE.txt"
cp "${workers[0]}" "$out/worker.js.LICENSE.txt"
echo "$REDOC_VERSION" >"$out/VERSION"
# The page asks for the script by version, which lets the server cache it for a year.
sed -i -E "s#/api/redoc\.js\?v=[^\"]*#/api/redoc.js?v=$REDOC_VERSION#" "$out/redoc.html"
grep -q "/api/redoc.js?v=$REDOC_VERSION\"" "$out/redoc.html" ||
	{ echo "vendor-redoc: $out/redoc.html does not load /api/redoc.js?v=$REDOC_VERSION" >&2; exit 1; }

echo "vendor-redoc: redoc@$REDOC_VERSION -> $out ($(wc -c <"$bundle") bytes, $(wc -c <"$out/redoc.standalone.js.gz") gzipped)"
