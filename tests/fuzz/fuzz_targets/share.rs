#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sandi_fuzz::share(data));
