#!/usr/bin/env bash
# Checks deploy/Containerfile's runtime stage without building the image: every
# shared library that the given binaries load (ldd) must come from a package
# that the runtime stage installs, directly or as a dependency. This is the
# runtime stage's package list checked as plain shell steps on this machine,
# minus the download; dependencies are read from dpkg's database.
#
#   deploy/check-runtime-deps.sh build/bin/spoofd build/bin/spoofctl build/bin/spoofd-health
set -euo pipefail
cd "$(dirname "$0")/.."
(($# > 0)) || { echo "usage: $0 BINARY..." >&2; exit 2; }

# The runtime stage's package list: the apt-get install after "AS runtime",
# up to the end of that RUN.
listed=$(awk '/ AS runtime/ {rt = 1} rt && /apt-get install/ {on = 1} on {print} on && !/\\$/ {exit}' \
  deploy/Containerfile | tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
  grep -vE '^(apt-get|install|rm|y|no|recommends|update)$' | sort -u)
[[ -n "$listed" ]] || { echo "check-runtime-deps: no runtime package list found" >&2; exit 1; }

# Every library the binaries load (unique), and the package owning each:
# one dpkg -S call for all of them (it reads the whole file list per call).
# Libraries are looked up under their path and their resolved path, as
# usrmerge leaves dpkg knowing either.
libs=$(for binary in "$@"; do
  if ldd "$binary" | grep -q 'not found'; then
    echo "check-runtime-deps: $binary has unresolved libraries here" >&2
    exit 1
  fi
  ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'
done | sort -u)
[[ -n "$libs" ]] || exit 1
owners=$(dpkg -S $libs $(readlink -f $libs) 2>/dev/null || true)
needed=""
for lib in $libs; do
  real=$(readlink -f "$lib")
  pkg=$(awk -F': ' -v a="$lib" -v b="$real" '$2 == a || $2 == b {split($1, p, ":"); print p[1]; exit}' <<<"$owners")
  needed+="$lib ${pkg:-?}"$'\n'
done

# Closure of the listed packages over Depends/Pre-Depends of installed packages.
dpkg-query -W -f='${Package}\t${Depends}, ${Pre-Depends}\n' |
  /usr/bin/python3 -c '
import re, sys
listed, needed = sys.argv[1].split(), sys.argv[2].strip().splitlines()
deps = {}
for line in sys.stdin:
    name, _, rest = line.rstrip("\n").partition("\t")
    deps[name] = [[re.sub(r"[ :(].*", "", alt.strip()) for alt in group.split("|")]
                  for group in rest.split(",") if group.strip()]
closure, todo = set(), list(listed)
while todo:
    p = todo.pop()
    if p in closure:
        continue
    closure.add(p)
    for group in deps.get(p, []):
        todo.extend(a for a in group if a in deps)  # any installed alternative
bad = 0
for entry in needed:
    lib, pkg = entry.split(" ")
    if pkg not in closure:
        print(f"check-runtime-deps: {lib} (package {pkg}) is not installed by the runtime stage",
              file=sys.stderr)
        bad = 1
if not bad:
    print(f"check-runtime-deps: {len(listed)} runtime packages cover all {len(needed)} libraries loaded")
sys.exit(bad)
' "$listed" "$needed"
