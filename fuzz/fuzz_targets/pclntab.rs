#![no_main]
//! `cargo fuzz run pclntab`: see gomortem::fuzz::pclntab.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gomortem::fuzz::pclntab(data);
});
