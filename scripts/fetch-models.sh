#!/bin/bash
# Fetch the example-zoo models that may not be committed.
#
# GNU Backgammon's evaluation nets are GPL-3+: they are taken from Debian's
# gnubg package on this machine and converted to safetensors
# (scripts/gnubg2safetensors.py), never stored in the repository.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/examples/zoo/gnubg-nets.safetensors
# sha256 of the conversion of gnubg 1.07.001 (Debian 12); another package
# version may carry other weights, which is worth a warning, not a failure.
expect=d7a4385f2845aa9a6299fc078f830ae3ca908869b6daacd73e67e0b25df46224

if [ -s "$out" ] && echo "$expect  $out" | sha256sum -c --quiet --status; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && apt-get download gnubg >/dev/null 2>&1); then
  apt-get update -q >/dev/null  # a fresh machine has no package lists yet
  (cd "$tmp" && apt-get download gnubg >/dev/null 2>&1)
fi
dpkg -x "$tmp"/gnubg_*.deb "$tmp/x"
/usr/bin/python3 "$root/scripts/gnubg2safetensors.py" "$tmp/x/usr/lib/gnubg/gnubg.wd" "$out"
if ! echo "$expect  $out" | sha256sum -c --quiet --status; then
  echo "fetch-models: warning: $out differs from the gnubg 1.07.001 conversion" >&2
fi
echo "fetch-models: wrote $out"
