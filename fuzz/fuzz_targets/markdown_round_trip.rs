#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| synchost_fuzz::markdown_round_trip(data));
