#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| synchost_fuzz::plugin_values(data));
