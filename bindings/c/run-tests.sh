#!/usr/bin/env bash
# Builds the C library (release), compiles the C test program against the shared library and the C quick start
# against the static library with the system compiler, runs both, then runs the test program under valgrind's
# memcheck (invalid accesses and definite leaks fail it) when valgrind is installed.
#
#   bindings/c/run-tests.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cc="${CC:-cc}"
lib="$PWD/target/release"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet -p splaredb-c
fixtures="$PWD/tests/fixtures"

"$cc" -std=c11 -Wall -Wextra -Werror -g -I bindings/c/include bindings/c/tests/c/test_api.c \
  "$lib/libsplaredb_c.so" -Wl,-rpath,"$lib" -o "$work/test_api"
mkdir "$work/scratch"
"$work/test_api" "$fixtures/tiny-bert" "$fixtures/tiny-xlmr" "$work/scratch"

"$cc" -std=c11 -Wall -Wextra -Werror -I bindings/c/include bindings/c/examples/quickstart.c \
  "$lib/libsplaredb_c.a" -lpthread -ldl -lm -o "$work/quickstart"
"$work/quickstart" "$work/qs-db" "$fixtures/tiny-bert"

if command -v valgrind >/dev/null 2>&1; then
  mkdir "$work/scratch-valgrind"
  valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
    --quiet "$work/test_api" "$fixtures/tiny-bert" "$fixtures/tiny-xlmr" "$work/scratch-valgrind"
  echo "valgrind memcheck: no invalid access, no definite leak"
else
  echo "WARNING: valgrind is not installed; the memcheck run is skipped" >&2
fi
