#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| synchost_fuzz::store_migration(data));
