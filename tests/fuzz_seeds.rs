//! Every fuzz target (src/fuzz.rs; `just fuzz` runs them under libFuzzer) on its seeds and on a
//! few hundred deterministic mutations of them: the fast tests' share of the fuzzing. A target
//! must not panic on any input; errors are expected. Inputs that once crashed a target live
//! in `fuzz/regressions/<target>/` and run here too.

use std::time::Instant;

use gomortem::fuzz;

/// xorshift64*: deterministic, so a failure here reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A mutation of `seed` as libFuzzer makes them: flipped bytes, interesting values, a cut.
fn mutate(rng: &mut Rng, seed: &[u8], structured: bool) -> Vec<u8> {
    let mut v = seed.to_vec();
    if structured {
        // Mutation lists: append random records.
        for _ in 0..1 + rng.below(6) {
            v.extend(
                fuzz::Mutation {
                    class: rng.next() as u8,
                    op: rng.next() as u8,
                    index: rng.next() as u32,
                    offset: rng.next() as u32,
                    value: match rng.below(4) {
                        0 => rng.next(),
                        1 => rng.next() & 0xffff,
                        2 => u64::MAX - rng.next() % 16,
                        _ => 0x00c0_0000_0000 + (rng.next() & 0xff_ffff),
                    },
                }
                .encode(),
            );
        }
        return v;
    }
    if v.is_empty() {
        return v;
    }
    for _ in 0..1 + rng.below(8) {
        let at = if rng.below(2) == 0 { rng.below(v.len().min(4096)) } else { rng.below(v.len()) };
        match rng.below(4) {
            0 => v[at] ^= 1 << rng.below(8),
            1 => v[at] = [0, 0xff, 0x7f, 0x80][rng.below(4)],
            2 => {
                let val = [u64::MAX, 0, 1 << 32, 0x7fff_ffff][rng.below(4)].to_le_bytes();
                let n = val.len().min(v.len() - at);
                v[at..at + n].copy_from_slice(&val[..n]);
            }
            _ => v[at] = rng.next() as u8,
        }
    }
    if rng.below(8) == 0 {
        let cut = rng.below(v.len());
        v.truncate(cut);
    }
    v
}

fn run_target(name: &str, mutations: usize) {
    let t = Instant::now();
    let seeds = fuzz::seeds(name);
    assert!(!seeds.is_empty(), "{name}: no seeds");
    // The first seed is a real file (or the empty mutation list: the fixture as it is), which
    // goes through the whole pipeline: the target reaches the code it is meant to fuzz.
    assert!(fuzz::run(name, &seeds[0]), "{name}: the first seed does not get through");
    for s in &seeds[1..] {
        fuzz::run(name, s);
    }
    let structured = matches!(name, "pclntab" | "dwarf" | "process");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    for i in 0..mutations {
        let input = mutate(&mut rng, &seeds[i % seeds.len()], structured);
        fuzz::run(name, &input);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(name);
    let mut regressions = 0;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            fuzz::run(name, &std::fs::read(e.path()).unwrap());
            regressions += 1;
        }
    }
    eprintln!(
        "{name}: {} seeds, {mutations} mutations, {regressions} regressions in {:.1} s",
        seeds.len(),
        t.elapsed().as_secs_f64()
    );
}

#[test]
fn elf_core() {
    run_target("elf_core", 400);
}

#[test]
fn minidump() {
    run_target("minidump", 400);
}

#[test]
fn buildinfo() {
    run_target("buildinfo", 2000);
}

#[test]
fn pclntab() {
    run_target("pclntab", 200);
}

#[test]
fn dwarf() {
    run_target("dwarf", 60);
}

#[test]
fn process() {
    run_target("process", 30);
}

#[test]
fn every_target_is_tested() {
    assert_eq!(fuzz::TARGETS, ["elf_core", "minidump", "buildinfo", "pclntab", "dwarf", "process"]);
}

/// `just fuzz` writes the seed corpora with this: `GOMORTEM_SEEDS_DIR=fuzz/corpus cargo test
/// --release --test fuzz_seeds write_seeds -- --ignored`.
#[test]
#[ignore]
fn write_seeds() {
    let dir = std::path::PathBuf::from(std::env::var("GOMORTEM_SEEDS_DIR").expect("GOMORTEM_SEEDS_DIR"));
    for name in fuzz::TARGETS {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for (i, s) in fuzz::seeds(name).iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i}")), s).unwrap();
        }
    }
}
