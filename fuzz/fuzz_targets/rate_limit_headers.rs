#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| synchost_fuzz::rate_limit_headers(data));
