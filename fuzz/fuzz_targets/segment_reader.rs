//! Arbitrary bytes parsed by the segment reader: an error or success, never a panic, abort, endless loop or an
//! allocation sized by an untrusted length. The first byte chooses raw bytes (even) or bytes whose checksums
//! are recomputed first (odd), so the fuzzer also reaches the validation behind the checksums.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    splaredb::fuzzing::tolerate_caught_panics();
    splaredb::fuzzing::segment(data)
});
