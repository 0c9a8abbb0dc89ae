#![no_main]
//! `cargo fuzz run elf_core`: see gomortem::fuzz::elf_core.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gomortem::fuzz::elf_core(data);
});
