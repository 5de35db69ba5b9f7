#!/usr/bin/env bash
# Builds everything (the native library with CMake, the Java modules with Maven) and runs every
# test: ctest for the shim, JUnit for the bindings, the API and the CLI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/install-deps.sh
source scripts/java-env.sh
mvn -B -ntp install "$@"
