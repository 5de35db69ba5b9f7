#!/usr/bin/env bash
# Formats the sources: Java with Spotless (palantir-java-format, configured in pom.xml; the bindings
# that jextract generates are left out) and the C++/CUDA under native/ with clang-format-16
# (native/.clang-format; native/include/batchtopk.h is left out: it is jextract's input, and the
# bindings test checks its hash).
#
#     scripts/format.sh           # rewrites what is not formatted, in place
#     scripts/format.sh --check   # changes nothing; names what is not formatted and exits 1 if any
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/java-env.sh

case "${1:-}" in
  "") mode=apply ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# One version: another clang-format formats differently, and the check would fail for that alone.
clang_format="$(command -v clang-format-16 || true)"
if [ -z "$clang_format" ]; then
  echo "error: clang-format-16 not found (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
mapfile -t native_sources < <(git ls-files --cached --others --exclude-standard -- \
  'native/*.cpp' 'native/*.h' 'native/*.cu' 'native/*.cuh' | grep -vx 'native/include/batchtopk.h')

status=0
if [ "$mode" = apply ]; then
  "$clang_format" -i --style=file "${native_sources[@]}"
  mvn -B -ntp -q spotless:apply
else
  unformatted=()
  for file in "${native_sources[@]}"; do
    "$clang_format" --style=file "$file" | cmp -s - "$file" || unformatted+=("$file")
  done
  if [ ${#unformatted[@]} -gt 0 ]; then
    printf 'not formatted (clang-format): %s\n' "${unformatted[@]}"
    status=1
  fi
  # --fail-never so that every module is checked (a failed one would skip those that depend on it);
  # the verdict is read from what Spotless prints.
  spotless_log="$(mktemp)"
  mvn -B -ntp -q --fail-never spotless:check 2>&1 | tee "$spotless_log"
  if grep -q 'had format violations' "$spotless_log"; then
    status=1
  elif grep -q '^\[ERROR\]' "$spotless_log"; then
    echo "error: Spotless did not run (see above)" >&2
    status=1
  fi
  rm -f "$spotless_log"
  if [ "$status" -ne 0 ]; then
    echo "scripts/format.sh formats them" >&2
  fi
fi
exit "$status"
