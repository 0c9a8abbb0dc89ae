#![no_main]
//! `cargo fuzz run minidump`: see gomortem::fuzz::minidump.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gomortem::fuzz::minidump(data);
});
