//! Replaces one file of a valid database (manifest, WAL, segment or deletion file, chosen by the first input
//! byte) with the fuzzer's bytes, opens the database and reads from it. Opening may fail with an error; it
//! must never panic, hang or read out of bounds. `tests/malformed_files.rs` runs the same check with
//! deterministic mutations in `cargo test`.
//!
//! Run (stable toolchain): `cargo fuzz run --sanitizer none open_damaged -- -max_total_time=60`
#![no_main]

#[path = "../../tests/common/damaged_template.rs"]
mod damaged_template;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use splaredb::storage::MemStorage;

fn template() -> &'static (MemStorage, Vec<String>) {
    static T: OnceLock<(MemStorage, Vec<String>)> = OnceLock::new();
    T.get_or_init(damaged_template::template)
}

fuzz_target!(|data: &[u8]| {
    splaredb::fuzzing::tolerate_caught_panics();
    let Some((&which, bytes)) = data.split_first() else { return };
    let (storage, names) = template();
    damaged_template::open_with_damage(storage, names, &names[which as usize % names.len()], bytes.to_vec());
});
