#![no_main]
//! `cargo fuzz run process`: see gomortem::fuzz::process.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gomortem::fuzz::process(data);
});
