#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_node::fuzzing::fuzz_clean(data));
