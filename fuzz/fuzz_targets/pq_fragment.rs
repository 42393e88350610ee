#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_crypto::fuzzing::fuzz_pq_fragment(data));
