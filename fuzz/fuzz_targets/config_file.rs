#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| synchost_fuzz::config_file(data));
