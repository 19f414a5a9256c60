//! An operation sequence decoded from the input drives the database over the fault-injecting storage with a
//! crash at an input-chosen point; the crash image must reopen and equal the reference model after a prefix
//! of the transactions (all acknowledged ones in `Full` mode), with exact search and the integrity check
//! agreeing. A mismatch panics, which the fuzzer reports.
#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

use common::crash_harness::{actions_from_bytes, crash_and_verify, CRASH_KINDS};
use libfuzzer_sys::fuzz_target;
use splaredb::storage::FaultConfig;
use splaredb::Durability;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, rest) = data.split_at(4);
    let actions = actions_from_bytes(rest);
    let durability = if head[0] & 1 == 0 { Durability::Full } else { Durability::Normal };
    let config = FaultConfig {
        crash_at: Some((CRASH_KINDS[head[1] as usize % CRASH_KINDS.len()], 1 + head[2] as u64 % 64)),
        sector_size: if head[3] & 1 == 0 { 512 } else { 64 },
        safe_append: head[3] & 2 != 0,
        atomic_sector: head[3] & 4 != 0,
        ..FaultConfig::default()
    };
    crash_and_verify(&actions, durability, config, head[3] as u64, "fuzz input");
});
