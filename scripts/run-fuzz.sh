#!/bin/sh
# Runs every libFuzzer target built in BUILD_DIR (default build-fuzz) for
# FUZZ_SECONDS (default 10) on its corpus fuzz/corpus/<target>/; new
# interesting inputs go to a scratch copy, never into the tree. Exits
# non-zero if any target finds a crash (the reproducer is left in
# BUILD_DIR/fuzz-artifacts/).
set -eu
build_dir=${1:-build-fuzz}
seconds=${FUZZ_SECONDS:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
artifacts="$build_dir/fuzz-artifacts"
mkdir -p "$artifacts"
status=0
found=0
for bin in $(find "$build_dir" -maxdepth 3 -type f -name 'fuzz_*' -perm -u+x | sort); do
  target=$(basename "$bin" | sed 's/^fuzz_//')
  corpus="$root/fuzz/corpus/$target"
  scratch="$build_dir/fuzz-corpus/$target"
  mkdir -p "$scratch"
  [ -d "$corpus" ] && cp -r "$corpus/." "$scratch/" 2>/dev/null || true
  found=$((found + 1))
  echo "== $target (${seconds}s)"
  if ! "$bin" -max_total_time="$seconds" -artifact_prefix="$artifacts/${target}-" -print_final_stats=0 \
      "$scratch" >"$build_dir/fuzz-$target.log" 2>&1; then
    echo "   CRASH: see $build_dir/fuzz-$target.log and $artifacts/"
    tail -30 "$build_dir/fuzz-$target.log"
    status=1
  else
    grep -E '^#[0-9]+.*(DONE|pulse)' "$build_dir/fuzz-$target.log" | tail -1 || true
  fi
done
if [ "$found" -eq 0 ]; then
  echo "no fuzz targets in $build_dir (configure with -DPOSTERN_FUZZ=ON and clang)" >&2
  exit 1
fi
exit $status
