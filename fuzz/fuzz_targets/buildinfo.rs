#![no_main]
//! `cargo fuzz run buildinfo`: see gomortem::fuzz::buildinfo.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gomortem::fuzz::buildinfo(data);
});
