#!/usr/bin/env bash
# Prepares benchmarks/gpu/carry/ for the GPU machine, which has no Java and no Maven: a jlink'd JDK 25
# runtime, the jars of the modules and of the test dependencies, the java-api test classes and the
# JUnit console launcher. benchmarks/gpu/run.sh runs the JUnit tests tagged "gpu" with it. The whole
# must stay within the 64 MiB a device call carries; the script checks.
#
#   mvn -B -ntp -o -pl training -am verify -DskipTests    # first: jars and test classes
#   benchmarks/gpu/prepare-carry.sh                        # then: the carry, and its size
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
source scripts/java-env.sh
out="${CARRY:-$root/benchmarks/gpu/carry}"
m2="${M2_REPO:-$HOME/.m2/repository}"
junit_platform=1.11.4 assertj=3.26.3

rm -rf "$out"
mkdir -p "$out/jars"
# java.logging: the JUnit platform logs through java.util.logging.
"$JAVA_HOME/bin/jlink" --add-modules java.base,jdk.unsupported,java.management,java.logging --compress=zip-9 \
  --strip-debug --no-header-files --no-man-pages --output "$out/jdk"
# java-api's jar and what it needs at run time (bindings, Jackson); not the CLI's shaded jar (~180 MiB).
# The project's own jars from this checkout's target/ (~/.m2 may hold another branch's).
for module in bindings java-api; do
  cp "$(ls "$module"/target/batchtopk-*.jar | grep -v -e sources -e javadoc -e tests | head -n1)" "$out/jars/"
done
mvn -B -q -o -pl java-api dependency:copy-dependencies -DincludeScope=runtime -DexcludeGroupIds=ai.batchtopk \
  -DoutputDirectory="$out/jars"
cp -r java-api/target/test-classes "$out/classes"
cp "$m2/org/junit/platform/junit-platform-console-standalone/$junit_platform/junit-platform-console-standalone-$junit_platform.jar" \
  "$out/junit-console.jar"
cp "$m2/org/assertj/assertj-core/$assertj/assertj-core-$assertj.jar" "$out/jars/"
# GoogleTest's sources, for the ctest cases where libgtest-dev is not installed.
cp -r "${GTEST_SOURCE:-/usr/src/googletest}" "$out/googletest"
# net.bytebuddy (AssertJ's optional dependency) is left out: the GPU tests use no soft assertions.
size_mib=$(( $(du -sb "$out" | cut -f1) / 1048576 ))
echo "carry: $out, ${size_mib} MiB"
if (( size_mib > 64 )); then
  echo "prepare-carry.sh: the carry is ${size_mib} MiB, over the 64 MiB a device call carries" >&2
  exit 1
fi
