# Sourced by the benchmark scripts (run-cpu.sh, run-pipeline.sh, cli-vs-step.sh) after they cd to the
# repository root ROOT: Temurin 25 as java when JAVA_HOME is not set; the benchmarks jar and the native
# library, built with Maven when either (or any file named in NEEDS_BUILT) is missing; the results folder.
#
# Sets JAR (default benchmarks/target/benchmarks.jar), LIB (BATCHTOPK_LIBRARY, default
# native/build/libbatchtopk.so, as an absolute path), JVM_FLAGS (what a JVM needs to load LIB), STAMP (UTC,
# for the names of result files) and RESULTS_DIR (default benchmarks/results, created).

if [[ -z "${JAVA_HOME:-}" && -d /usr/lib/jvm/temurin-25-jdk-amd64 ]]; then
    export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
fi
if [[ -n "${JAVA_HOME:-}" ]]; then
    export PATH="$JAVA_HOME/bin:$PATH"
fi

JAR="${JAR:-$ROOT/benchmarks/target/benchmarks.jar}"
LIB="${BATCHTOPK_LIBRARY:-$ROOT/native/build/libbatchtopk.so}"
for built in "$JAR" "$LIB" ${NEEDS_BUILT:-}; do
    if [[ ! -f "$built" ]]; then
        echo "# building (mvn -q -B -DskipTests verify: $built is missing) ..." >&2
        mvn -q -B -DskipTests verify
        break
    fi
done
LIB="$(readlink -f "$LIB")"
JVM_FLAGS=(--enable-native-access=ALL-UNNAMED "-Dbatchtopk.library=$LIB")

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS_DIR="${RESULTS_DIR:-$ROOT/benchmarks/results}"
mkdir -p "$RESULTS_DIR"
