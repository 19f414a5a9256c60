//! The same check as the `open_damaged` fuzz target, with deterministic mutations, so that `cargo test` covers
//! it without cargo-fuzz: damaged files give an error or a consistent database, never a panic.

mod common;

use common::damaged_template::{open_with_damage, template};
use common::Rng;
use splaredb::storage::Storage;

#[test]
fn damaged_files_never_panic() {
    let (template, names) = template();
    assert!(names.iter().any(|n| n.ends_with(".seg")) && names.iter().any(|n| n.ends_with(".del")));
    let mut rng = Rng(99);
    for name in &names {
        let original = template.read(name).unwrap();
        for round in 0..150 {
            let mut bytes = original.clone();
            match round % 4 {
                0 => {
                    let at = rng.below(bytes.len() as u64) as usize;
                    bytes[at] ^= 1 << rng.below(8);
                }
                1 => bytes.truncate(rng.below(bytes.len() as u64) as usize),
                2 => {
                    let at = rng.below(bytes.len() as u64) as usize;
                    let end = (at + 1 + rng.below(64) as usize).min(bytes.len());
                    for b in &mut bytes[at..end] {
                        *b = rng.next_u64() as u8;
                    }
                }
                _ => bytes.extend((0..rng.below(200)).map(|_| rng.next_u64() as u8)),
            }
            open_with_damage(&template, &names, name, bytes);
        }
    }
}
