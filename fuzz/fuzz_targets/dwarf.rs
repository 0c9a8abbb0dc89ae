#![no_main]
//! `cargo fuzz run dwarf`: see gomortem::fuzz::dwarf.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gomortem::fuzz::dwarf(data);
});
