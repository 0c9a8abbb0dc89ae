#!/bin/bash
# Real crash dumps of main.go.txt, one per mode, for tests/crash.rs `adhoc_crash_dumps`:
#   tests/data/crashes/make.sh OUT [VERSIONS] [ARCHES]
# e.g. make.sh /tmp/crashes 1.22.10,1.25.5,1.26.6,1.27.3 amd64,arm64; then
#   GOMORTEM_CRASH_DUMPS=/tmp/crashes cargo test --release --test crash
# Each OUT/go<v>-<arch>-<mode>/ holds exe, dump (kernel core, or qemu-aarch64 guest core) and
# the program's stderr (GOTRACEBACK=crash). Needs /opt/go-venv/<v>/bin/go, core_pattern `core`,
# qemu-aarch64 for arm64. The `overflow` mode's core is about 1 GB.
set -u
out=$(realpath -m "$1"); versions=${2:-1.22.10,1.25.5,1.26.6,1.27.3}; arches=${3:-amd64}
src=$(cd "$(dirname "$0")" && pwd)
modes="string multiline error wrapped int myint mystring float myfloat complex struct ptr stringer nil
 nilderef index assert nested repanic recovered-then-new goexit-deadlock deadlock mapwrite unlock
 deferfatal overflow sigquit goroutine"
build=$(mktemp -d); trap 'rm -rf "$build"' EXIT
cp "$src/main.go.txt" "$build/main.go"; printf 'module crashes\n\ngo 1.22\n' > "$build/go.mod"
ulimit -c unlimited
for v in ${versions//,/ }; do for a in ${arches//,/ }; do
  (cd "$build" && GOARCH=$a GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY=off \
    /opt/go-venv/$v/bin/go build -o "exe-$v-$a" .) || exit 1
  for m in $modes; do
    d="$out/go$v-$a-$m"; rm -rf "$d"; mkdir -p "$d"; cp "$build/exe-$v-$a" "$d/exe"
    if [ "$a" = arm64 ]; then
      (cd "$d" && GOTRACEBACK=crash timeout 60 qemu-aarch64 ./exe $m >/dev/null 2>stderr
       rm -f core; mv qemu_exe_*.core dump)
    else
      (cd "$d" && GOTRACEBACK=crash timeout 60 ./exe $m >/dev/null 2>stderr; mv core dump)
    fi 2>/dev/null
    [ -f "$d/dump" ] && fallocate --dig-holes "$d/dump" || echo "no dump: $d"
  done
done; done
