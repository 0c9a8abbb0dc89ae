# gomortem tasks. `just --list` shows them.

fixtures_dir := env_var_or_default("GOMORTEM_FIXTURES", justfile_directory() / "fixtures/cache")

# Fast tests on the small committed fixtures (no Go, Wine or qemu needed).
test:
    cargo test --release

# Generate the full matrix of real dumps (every Go release x platform x scenario) into the cache.
fixtures *ARGS:
    python3 fixtures/generate.py --out {{fixtures_dir}} {{ARGS}}

# Rebuild the small committed fixture set.
commit-fixtures:
    python3 fixtures/generate.py --commit

# Check every cached dump against the runtime's own traceback and the scenario's facts.
matrix:
    GOMORTEM_FIXTURES={{fixtures_dir}} GOMORTEM_MATRIX=1 cargo test --release --test matrix --test memory --test crash --test diagnoses --test diff -- --nocapture

# Throughput benchmarks (generates its large dumps on first run).
bench:
    cargo bench --bench throughput

# Install the matrix's tools on a fresh machine (Go toolchains, qemu, Wine, gdb, just).
setup:
    bash .ci/setup.sh

# Fuzz every target for SECONDS each (libFuzzer via cargo-fuzz on nightly; two at a time). Crashes
# land in fuzz/artifacts/<target>: copy each to fuzz/regressions/<target>/ as a regression test.
fuzz SECONDS="60":
    bash fuzz/run.sh {{SECONDS}}
