//! Bad input gets a clear error and a non-zero exit, never a panic or a hang.
//! Each test runs the real `gomortem` binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::compare;

struct Run {
    code: i32,
    stderr: String,
}

fn gomortem(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_gomortem")).args(args).output().expect("run gomortem");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "gomortem panicked on {args:?}:\n{stderr}");
    Run { code: out.status.code().unwrap_or(-1), stderr }
}

fn expect_error(args: &[&str], needle: &str) {
    let r = gomortem(args);
    assert_ne!(r.code, 0, "{args:?} should fail");
    assert!(r.stderr.starts_with("gomortem: error: "), "{args:?}: {}", r.stderr);
    assert!(r.stderr.contains(needle), "{args:?}: expected {needle:?} in: {}", r.stderr);
}

fn data(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p).display().to_string()
}

fn committed() -> Vec<compare::Case> {
    compare::cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/committed"))
}

fn linux_amd64_case() -> compare::Case {
    committed()
        .into_iter()
        .find(|c| c.meta["platform"] == "linux-amd64")
        .expect("a committed linux-amd64 fixture")
}

/// Decompress a committed fixture file (xz) into a temporary directory.
fn unpacked(path: &Path, dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let mut w = std::fs::File::create(&out).unwrap();
    let r = std::fs::File::open(path).unwrap();
    if path.extension().is_some_and(|e| e == "xz") {
        std::io::copy(&mut xz2::read::XzDecoder::new(std::io::BufReader::new(r)), &mut w).unwrap();
    } else {
        std::io::copy(&mut std::io::BufReader::new(r), &mut w).unwrap();
    }
    out
}

#[test]
fn random_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("garbage");
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let bytes: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&p, &bytes).unwrap();
    let p = p.display().to_string();
    expect_error(&["goroutines", &p], "not a core file or minidump");
    // Garbage given as the executable of a real dump.
    let case = linux_amd64_case();
    expect_error(&["goroutines", case.file("dump").to_str().unwrap(), "--exe", &p], "not an ELF or PE");
}

#[test]
fn empty_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty");
    std::fs::write(&p, b"").unwrap();
    expect_error(&["overview", p.to_str().unwrap()], "empty");
    expect_error(&["overview", "/nonexistent/core"], "No such file");
}

#[test]
fn truncated_dumps() {
    let dir = tempfile::tempdir().unwrap();
    for case in committed() {
        // Cut shorter and shorter in place: a 1.2 GB gcore is written once.
        let cut = unpacked(&case.file("dump"), dir.path(), "cut");
        let exe = unpacked(&case.file("exe"), dir.path(), "exe");
        let len = std::fs::metadata(&cut).unwrap().len();
        for frac in [0.9, 0.5, 0.03] {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&cut)
                .unwrap()
                .set_len((len as f64 * frac) as u64)
                .unwrap();
            for cmd in ["goroutines", "heap", "top", "memory", "channels", "report"] {
                let r = gomortem(&[cmd, cut.to_str().unwrap(), "--exe", exe.to_str().unwrap()]);
                assert_ne!(r.code, 0, "{} {cmd} cut to {frac}: should fail", case.name());
                assert!(
                    r.stderr.contains("truncated")
                        || r.stderr.contains("not in the dump")
                        || r.stderr.contains("too short"),
                    "{} {cmd} cut to {frac}: {}",
                    case.name(),
                    r.stderr
                );
            }
        }
    }
}

#[test]
fn mismatched_executable() {
    let cases = committed();
    let dir = tempfile::tempdir().unwrap();
    let amd: Vec<_> = cases.iter().filter(|c| c.meta["platform"] == "linux-amd64").collect();
    assert!(amd.len() >= 2, "need two committed linux-amd64 fixtures");
    // Another Go release's build of the same program.
    let (a, b) = (amd[0], amd[amd.len() - 1]);
    let exe_b = unpacked(&b.file("exe"), dir.path(), "exe_b");
    expect_error(
        &["goroutines", a.file("dump").to_str().unwrap(), "--exe", exe_b.to_str().unwrap()],
        "does not match the dump",
    );
    // An arm64 executable for an amd64 dump, and a Windows one for a Linux core.
    for other in ["linux-arm64", "windows-amd64"] {
        if let Some(c) = cases.iter().find(|c| c.meta["platform"] == other) {
            let exe = unpacked(&c.file("exe"), dir.path(), other);
            expect_error(
                &["overview", a.file("dump").to_str().unwrap(), "--exe", exe.to_str().unwrap()],
                "does not match the dump",
            );
        }
    }
}

#[test]
fn not_a_go_process() {
    // A kernel core of /usr/bin/sleep: the dump names it, and it has no Go build info.
    let dump = data("tests/data/bad/not-go/dump.xz");
    let r = gomortem(&["overview", &dump]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("not a Go program") || r.stderr.contains("not on this machine"),
        "{}",
        r.stderr
    );
    if Path::new("/usr/bin/sleep").exists() {
        expect_error(&["overview", &dump, "--exe", "/usr/bin/sleep"], "not a Go program");
    }
}

#[test]
fn unsupported_go_release() {
    // A real core of a Go 1.21.13 program (1.20 is not obtainable on our machines; 1.21 is
    // just as unsupported).
    let d = "tests/data/bad/go1.21-linux-amd64";
    expect_error(
        &["goroutines", &data(&format!("{d}/dump.xz")), "--exe", &data(&format!("{d}/exe.xz"))],
        "go1.21.13 is not supported",
    );
}

#[test]
fn addresses_outside_the_heap() {
    let case = linux_amd64_case();
    let (dump, exe) = (case.file("dump"), case.file("exe"));
    let (dump, exe) = (dump.to_str().unwrap(), exe.to_str().unwrap());
    expect_error(&["path", dump, "0x10", "--exe", exe], "not inside an allocated heap object");
    let r = gomortem(&["path", dump, "nonsense", "--exe", exe]);
    assert_eq!(r.code, 2, "clap usage error: {}", r.stderr);
    assert!(r.stderr.contains("not an address"), "{}", r.stderr);
}

#[test]
fn core_given_as_executable() {
    let case = linux_amd64_case();
    let dump = case.file("dump");
    expect_error(&["overview", dump.to_str().unwrap(), "--exe", dump.to_str().unwrap()], "core");
}

/// A deterministic pseudo-random sequence (xorshift64), so that a failure reproduces.
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed.wrapping_mul(0x9e3779b97f4a7c15);
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Random bytes written over a real core's notes and memory: every command finishes, with a
/// result or a clear error, never a panic. (A run over 120 s counts as a hang.)
#[test]
fn corrupted_memory() {
    let case = linux_amd64_case();
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(unpacked(&case.file("dump"), dir.path(), "full")).unwrap();
    let exe = unpacked(&case.file("exe"), dir.path(), "exe");
    for seed in 1..=6u64 {
        let mut next = xorshift(seed);
        let mut bytes = full.clone();
        for _ in 0..5000 {
            let i = 4096 + (next() % (bytes.len() as u64 - 4096)) as usize;
            bytes[i] = next() as u8;
        }
        let cut = dir.path().join("corrupt");
        std::fs::write(&cut, &bytes).unwrap();
        for cmd in ["goroutines", "heap", "top", "memory", "channels", "report"] {
            let mut child = Command::new(env!("CARGO_BIN_EXE_gomortem"))
                .args([cmd, cut.to_str().unwrap(), "--exe", exe.to_str().unwrap()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let start = std::time::Instant::now();
            let status = loop {
                if let Some(s) = child.try_wait().unwrap() {
                    break s;
                }
                if start.elapsed().as_secs() > 120 {
                    child.kill().ok();
                    panic!("seed {seed} {cmd}: hangs");
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            };
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            assert!(!err.contains("panicked"), "seed {seed} {cmd}: {err}");
            assert!(matches!(status.code(), Some(0 | 1 | 3)), "seed {seed} {cmd}: {status:?} {err}");
        }
    }
}

/// Run gomortem with a deadline: a hang is a failure. Returns (status, stderr, elapsed).
fn gomortem_within(args: &[&str], env: &[(&str, &Path)], secs: u64) -> (Run, std::time::Duration) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gomortem"));
    cmd.args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = std::time::Instant::now();
    let mut child = cmd.spawn().unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed().as_secs() > secs {
            child.kill().ok();
            child.wait().ok();
            panic!("{args:?}: still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let took = start.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!stderr.contains("panicked"), "gomortem panicked on {args:?}:\n{stderr}");
    (Run { code: status.code().unwrap_or(-1), stderr }, took)
}

fn assert_error(r: &Run, what: &str, needle: &str) {
    assert_ne!(r.code, 0, "{what} should fail");
    assert!(r.stderr.starts_with("gomortem: error: "), "{what}: {}", r.stderr);
    assert!(r.stderr.contains(needle), "{what}: expected {needle:?} in: {}", r.stderr);
}

/// `head` then `zeros` zero bytes, compressed with zstd (with a checksum) or gzip.
fn bomb(path: &Path, head: &[u8], zeros: u64, gzip: bool) {
    let f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut data = std::io::Read::chain(head, std::io::Read::take(std::io::repeat(0), zeros));
    if gzip {
        let mut w = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        std::io::copy(&mut data, &mut w).unwrap();
        w.finish().unwrap();
    } else {
        let mut w = zstd::stream::write::Encoder::new(f, 3).unwrap();
        w.include_checksum(true).unwrap();
        std::io::copy(&mut data, &mut w).unwrap();
        w.finish().unwrap();
    }
}

/// Issue 14, finding 2: a small compressed file of 300 MB of something that is not a dump is
/// refused on its first decompressed bytes, as the dump and as the executable; nothing is left
/// in the temporary directory.
#[test]
fn decompression_bomb_of_something_else() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (zst, gz) = (dir.path().join("bomb.zst"), dir.path().join("bomb.gz"));
    bomb(&zst, b"NOT A CORE FILE", 300 << 20, false);
    bomb(&gz, b"NOT AN EXECUTABLE", 300 << 20, true);
    assert!(std::fs::metadata(&zst).unwrap().len() < 1 << 20);
    let (r, took) = gomortem_within(&["overview", zst.to_str().unwrap()], &[("TMPDIR", tmp.path())], 60);
    assert_error(&r, "a zstd bomb as the dump", "not a core file or minidump");
    assert!(took.as_secs_f64() < 5.0, "refused only after {took:?}: it was decompressed");
    let case = linux_amd64_case();
    let (r, took) = gomortem_within(
        &["overview", case.file("dump").to_str().unwrap(), "--exe", gz.to_str().unwrap()],
        &[("TMPDIR", tmp.path())],
        60,
    );
    assert_error(&r, "a gzip bomb as the executable", "not an ELF or PE executable");
    assert!(took.as_secs_f64() < 10.0, "refused only after {took:?}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "files left in the temporary directory");
}

/// Issue 14, finding 2: a bomb that starts like a core stops at `--max-decompressed`, with an
/// error naming the limit and the option.
#[test]
fn decompression_bomb_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let zst = dir.path().join("core.zst");
    bomb(&zst, b"\x7fELF\x02\x01\x01\0", 64 << 20, false);
    let (r, _) = gomortem_within(
        &["goroutines", zst.to_str().unwrap(), "--max-decompressed", "1MiB"],
        &[("TMPDIR", tmp.path())],
        60,
    );
    assert_error(&r, "a core bomb over the limit", "decompresses to more than 1 MiB");
    assert!(r.stderr.contains("--max-decompressed"), "{}", r.stderr);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "files left in the temporary directory");
    // A bad size is a usage error.
    let r = gomortem(&["goroutines", zst.to_str().unwrap(), "--max-decompressed", "lots"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// Issue 14, finding 3: a FIFO (which would block `open` forever), a character device (which
/// never ends) and a directory are refused before they are opened, as the dump and as the
/// executable.
#[test]
fn not_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().map(|s| s.success()).unwrap_or(false);
    let case = linux_amd64_case();
    let dump = case.file("dump");
    let dump = dump.to_str().unwrap();
    let mut inputs = vec![("/dev/zero".to_string(), "a character device")];
    if made {
        inputs.push((fifo.display().to_string(), "a FIFO"));
    } else {
        eprintln!("note: mkfifo failed: the FIFO case is skipped");
    }
    inputs.push((dir.path().display().to_string(), "a directory"));
    for (p, kind) in &inputs {
        let (r, _) = gomortem_within(&["overview", p], &[], 30);
        assert_error(
            &r,
            p,
            &format!("{p} is not a regular file ({kind}); gomortem needs a dump file it can map"),
        );
        let (r, _) = gomortem_within(&["overview", dump, "--exe", p], &[], 60);
        assert_error(
            &r,
            p,
            &format!("{p} is not a regular file ({kind}); gomortem needs an executable file"),
        );
    }
}

/// The committed linux-amd64 core, decompressed, then compressed with zstd (with a checksum)
/// and xz.
fn recompressed(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let case = linux_amd64_case();
    let raw = std::fs::read(unpacked(&case.file("dump"), dir, "raw")).unwrap();
    let mut z = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    z.include_checksum(true).unwrap();
    std::io::Write::write_all(&mut z, &raw).unwrap();
    let zst = z.finish().unwrap();
    let mut x = xz2::write::XzEncoder::new(Vec::new(), 1);
    std::io::Write::write_all(&mut x, &raw).unwrap();
    let xz = x.finish().unwrap();
    (zst, xz)
}

/// Issue 14, finding 4: a corrupt compressed dump (a byte flipped in the middle, or in the
/// zstd checksum) is refused, saying where; a truncated one is still read as far as it goes.
#[test]
fn corrupt_compressed_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let case = linux_amd64_case();
    let exe = unpacked(&case.file("exe"), dir.path(), "exe");
    let exe = exe.to_str().unwrap();
    let (zst, xz) = recompressed(dir.path());
    let run = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        gomortem_within(&["goroutines", p.to_str().unwrap(), "--exe", exe], &[], 120).0
    };
    for (name, data) in [("dump.zst", &zst), ("dump.xz", &xz)] {
        // Whole: it reads.
        let r = run(name, data);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        // A byte flipped in the middle.
        let mut bad = data.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        let r = run(name, &bad);
        assert_error(&r, &format!("{name} flipped at {mid}"), "the compressed dump is corrupt at byte ");
        // Cut short: the truncation is reported, as for a truncated core.
        let r = run(name, &data[..data.len() * 6 / 10]);
        assert_ne!(r.code, 0, "{name} cut: should fail or be partial");
        assert!(!r.stderr.contains("corrupt"), "{name} cut: {}", r.stderr);
        assert!(
            r.stderr.contains("truncated")
                || r.stderr.contains("not in the dump")
                || r.stderr.contains("too short"),
            "{name} cut: {}",
            r.stderr
        );
    }
    // The zstd frame's checksum (its last 4 bytes) flipped: the data decodes, the check fails.
    let mut bad = zst.clone();
    let n = bad.len();
    bad[n - 2] ^= 0x01;
    let r = run("sum.zst", &bad);
    assert_error(&r, "zstd checksum flipped", "the compressed dump is corrupt at byte ");
    assert!(r.stderr.contains("zstd"), "{}", r.stderr);
}

/// Issue 14, finding 5: a byte flipped inside the executable's compressed `.debug_info`: the
/// error says the DWARF is corrupt, naming the section, not that there is none.
#[test]
fn corrupt_dwarf() {
    use object::{Object, ObjectSection};
    let dir = tempfile::tempdir().unwrap();
    let case = linux_amd64_case();
    let exe = unpacked(&case.file("exe"), dir.path(), "exe");
    let mut bytes = std::fs::read(&exe).unwrap();
    let (start, len) = {
        let obj = object::File::parse(&*bytes).unwrap();
        let s = obj
            .section_by_name(".debug_info")
            .or_else(|| obj.section_by_name(".zdebug_info"))
            .expect("the fixture's executable has DWARF");
        let r = s.compressed_file_range().unwrap();
        assert_ne!(r.format, object::CompressionFormat::None, "the fixture's .debug_info is compressed");
        (r.offset as usize, r.compressed_size as usize)
    };
    bytes[start + len / 2] ^= 0xff;
    let bad = dir.path().join("bad-dwarf");
    std::fs::write(&bad, &bytes).unwrap();
    let r = gomortem(&["goroutines", case.file("dump").to_str().unwrap(), "--exe", bad.to_str().unwrap()]);
    assert_error(&r, "corrupt DWARF", "the executable's DWARF is corrupt: ");
    assert!(r.stderr.contains("debug_info"), "the section is named: {}", r.stderr);
    assert!(!r.stderr.contains("has no DWARF"), "{}", r.stderr);
}

/// Issue 14, finding 6: the core of a process that is not Go (a kernel core of sleep, and a
/// gcore of one when gcore is available) with a Go executable: not "address … is not in the
/// dump", but that the dump is not of this executable.
#[test]
fn non_go_core_with_a_go_executable() {
    let dir = tempfile::tempdir().unwrap();
    let case = linux_amd64_case();
    let exe = unpacked(&case.file("exe"), dir.path(), "exe");
    let exe = exe.to_str().unwrap();
    let mut cores = vec![data("tests/data/bad/not-go/dump.xz")];
    match gcore_of_sleep(dir.path()) {
        Some(p) => cores.push(p.display().to_string()),
        None => eprintln!("note: gcore unavailable or not permitted: only the committed core is used"),
    }
    for core in &cores {
        for cmd in ["overview", "goroutines", "heap"] {
            let r = gomortem(&[cmd, core, "--exe", exe]);
            assert_error(&r, core, "this dump is not of this executable");
            assert!(!r.stderr.contains("is not in the dump:"), "{}", r.stderr);
        }
    }
}

/// A gcore of a running `sleep`, if gcore (gdb) is on PATH and may attach.
fn gcore_of_sleep(dir: &Path) -> Option<PathBuf> {
    let mut sleep = Command::new("sleep").arg("100").spawn().ok()?;
    let prefix = dir.join("sleep-core");
    let out = Command::new("gcore")
        .arg("-o")
        .arg(&prefix)
        .arg(sleep.id().to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    let core = dir.join(format!("sleep-core.{}", sleep.id()));
    sleep.kill().ok();
    sleep.wait().ok();
    (out.ok()?.success() && core.is_file()).then_some(core)
}

/// Issue 14, finding 8: clap's usage errors are one line like every other error, exit 2;
/// --help and --version print normally, exit 0.
#[test]
fn usage_errors_are_one_line() {
    let r = gomortem(&["heap", "core", "--top", "99999999999999999999999999"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(lines[0].starts_with("gomortem: error: ") && lines[0].contains("--top"), "{}", r.stderr);
    assert!(lines.len() <= 2, "one line and a hint: {}", r.stderr);
    let r = gomortem(&["overview", "core", "--no-such-flag"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.starts_with("gomortem: error: ") && r.stderr.lines().count() <= 2, "{}", r.stderr);
    // A missing argument: clap lists it on the next line; it is kept on the one line.
    let r = gomortem(&["overview"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(lines[0].starts_with("gomortem: error: ") && lines[0].contains("<DUMP>"), "{}", r.stderr);
    assert!(lines.len() <= 2, "one line and a hint: {}", r.stderr);
    for args in [&["--help"][..], &["--version"], &["heap", "--help"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_gomortem")).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty() && out.stderr.is_empty(), "{args:?}");
    }
}

/// Finding 7: words of a real core overwritten with addresses near the top of the address space
/// (a g field of 0xffff…, a huge count): address arithmetic on them must not wrap nor overflow.
/// Run with overflow checks on (docs/testing.md) this catches every unchecked `addr + off`.
#[test]
fn corrupted_pointers() {
    let case = linux_amd64_case();
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(unpacked(&case.file("dump"), dir.path(), "full")).unwrap();
    let exe = unpacked(&case.file("exe"), dir.path(), "exe");
    for seed in 1..=4u64 {
        let mut next = xorshift(seed);
        let mut bytes = full.clone();
        let words = (bytes.len() - 4096) / 8;
        for _ in 0..[100, 1000, 5000, 20000][seed as usize - 1] {
            let i = 4096 + (next() % words as u64) as usize * 8;
            // Only words that look like pointers or counts: those are what arithmetic is done on.
            let old = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
            if old == 0 {
                continue;
            }
            let v = u64::MAX - (next() % 0x1000);
            bytes[i..i + 8].copy_from_slice(&v.to_le_bytes());
        }
        let cut = dir.path().join("corrupt");
        std::fs::write(&cut, &bytes).unwrap();
        for cmd in ["goroutines", "heap", "memory", "report"] {
            let r = gomortem(&[cmd, cut.to_str().unwrap(), "--exe", exe.to_str().unwrap()]);
            assert!(!r.stderr.contains("overflow"), "seed {seed} {cmd}: {}", r.stderr);
            assert!(matches!(r.code, 0 | 1 | 3), "seed {seed} {cmd}: {} {}", r.code, r.stderr);
            eprintln!("seed {seed} {cmd}: exit {}: {}", r.code, r.stderr.lines().next().unwrap_or(""));
        }
    }
}

/// Peak resident memory of `gomortem goroutines DUMP --exe EXE` in KiB (`/usr/bin/time -v`), and
/// its exit code; None without /usr/bin/time.
fn peak_rss(dump: &Path, exe: &Path) -> Option<(u64, i32, String)> {
    let out = Command::new("/usr/bin/time")
        .args(["-v", env!("CARGO_BIN_EXE_gomortem"), "goroutines"])
        .arg(dump)
        .arg("--exe")
        .arg(exe)
        .stdout(std::process::Stdio::null())
        .output()
        .ok()?;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{}: {err}", dump.display());
    let kb = err.lines().find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes): "))?;
    let code = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("Exit status: "))
        .and_then(|c| c.parse().ok())
        .unwrap_or(-1);
    Some((kb.parse().ok()?, code, err.lines().next().unwrap_or("").to_string()))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Header counts set to huge values (every count a reader sizes something by): an error or a
/// result with warnings, never a panic, and no allocation sized by the count. With
/// /usr/bin/time, the peak memory stays within twice the clean dump's (plus 16 MiB of slack for
/// a small dump's fixed costs).
#[test]
fn huge_header_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for case in committed() {
        let platform = case.meta["platform"].as_str().unwrap_or("");
        if platform != "linux-amd64" && platform != "windows-amd64" {
            continue;
        }
        if checked >= 2 && platform == "linux-amd64" {
            continue;
        }
        let clean = unpacked(&case.file("dump"), dir.path(), "clean");
        let exe = unpacked(&case.file("exe"), dir.path(), "exe");
        let b = std::fs::read(&clean).unwrap();
        let mut mutants: Vec<(String, Vec<u8>)> = Vec::new();
        let mut set = |name: &str, at: usize, v: &[u8]| {
            let mut m = b.clone();
            m[at..at + v.len()].copy_from_slice(v);
            mutants.push((name.to_string(), m));
        };
        if b.starts_with(b"\x7fELF") {
            set("e_phnum 0xfffe", 56, &0xfffeu16.to_le_bytes());
            set("e_phnum PN_XNUM", 56, &0xffffu16.to_le_bytes());
            let (phoff, phnum) = (le64(&b, 32) as usize, u16::from_le_bytes([b[56], b[57]]) as usize);
            for i in 0..phnum {
                let p = phoff + i * 56;
                if le32(&b, p) != 4 {
                    continue;
                }
                set("PT_NOTE p_filesz", p + 32, &u64::MAX.to_le_bytes());
                // NT_FILE's count.
                let (off, len) = (le64(&b, p + 8) as usize, le64(&b, p + 32) as usize);
                let mut n = off;
                while n + 12 <= off + len {
                    let (namesz, descsz, t) =
                        (le32(&b, n) as usize, le32(&b, n + 4) as usize, le32(&b, n + 8));
                    let desc = n + 12 + namesz.div_ceil(4) * 4;
                    if t == 0x4649_4c45 {
                        set("NT_FILE count", desc, &(u64::MAX / 24).to_le_bytes());
                        set("NT_FILE count 2^40", desc, &(1u64 << 40).to_le_bytes());
                    }
                    n = desc + descsz.div_ceil(4) * 4;
                }
            }
        } else {
            set("NumberOfStreams", 8, &u32::MAX.to_le_bytes());
            let (n, rva) = (le32(&b, 8) as usize, le32(&b, 12) as usize);
            for i in 0..n {
                let e = rva + 12 * i;
                let (kind, at) = (le32(&b, e), le32(&b, e + 8) as usize);
                match kind {
                    3 => set("ThreadList count", at, &u32::MAX.to_le_bytes()),
                    4 => set("ModuleList count", at, &u32::MAX.to_le_bytes()),
                    9 => set("Memory64List NumberOfMemoryRanges", at, &u64::MAX.to_le_bytes()),
                    16 => set("MemoryInfoList count", at + 8, &u64::MAX.to_le_bytes()),
                    _ => {}
                }
                if matches!(kind, 3 | 4 | 9 | 16) {
                    set(&format!("stream {kind} size"), e + 4, &u32::MAX.to_le_bytes());
                }
            }
        }
        assert!(mutants.len() >= 3, "{}: {} mutants", case.name(), mutants.len());
        let base = peak_rss(&clean, &exe);
        if let Some((kb, code, _)) = &base {
            eprintln!("{} clean: {kb} KiB peak, exit {code}", case.name());
        }
        for (name, m) in &mutants {
            let p = dir.path().join("mutant");
            std::fs::write(&p, m).unwrap();
            let r = gomortem(&["goroutines", p.to_str().unwrap(), "--exe", exe.to_str().unwrap()]);
            assert!(matches!(r.code, 0 | 1 | 3), "{} {name}: {} {}", case.name(), r.code, r.stderr);
            if let (Some((clean_kb, ..)), Some((kb, code, first))) = (&base, peak_rss(&p, &exe)) {
                eprintln!("{} {name}: {kb} KiB peak, exit {code}: {first}", case.name());
                assert!(
                    kb <= 2 * clean_kb + 16 * 1024,
                    "{} {name}: {kb} KiB against {clean_kb}",
                    case.name()
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 2);
}
