//! `Database::segments` reports each section's size, and the inverted index is postings + block metadata + the
//! latent directory: checked against a brute-force inversion of the inserted vectors (the tools' "index B/nnz"
//! once counted the postings alone).

mod common;

use std::collections::BTreeMap;

use common::Rng;
use splaredb::{Database, Document, Options, SectionSizes, SparseVector};

#[test]
fn inverted_size_counts_postings_block_metadata_and_the_latent_directory() {
    let dir = tempfile::tempdir().unwrap();
    let dims = 3000;
    let db = Database::open(dir.path(), Options::with_dims(dims)).unwrap();
    let mut rng = Rng(7);
    let mut doc_freq: BTreeMap<u32, u64> = BTreeMap::new();
    let mut nnz = 0u64;
    let mut txn = db.begin_write().unwrap();
    for i in 0..3000 {
        // Skewed latents: some lists span many blocks, most are short.
        let pairs: BTreeMap<u32, f32> =
            (0..1 + rng.below(60)).map(|_| ((rng.below(dims as u64) as u32).pow(2) % dims, 0.5)).collect();
        for &latent in pairs.keys() {
            *doc_freq.entry(latent).or_default() += 1;
        }
        nnz += pairs.len() as u64;
        txn.insert(format!("d{i:05}"), Document::new(SparseVector::from_pairs(pairs).unwrap())).unwrap();
    }
    txn.commit().unwrap();
    db.checkpoint().unwrap();
    let segments = db.segments();
    assert_eq!(segments.len(), 1);
    let s = &segments[0];
    assert_eq!(s.postings, nnz);
    let sizes: SectionSizes = s.sections;
    // 20 bytes per block of up to 128 postings, 20 bytes per latent (format-spec.md §3.1, §3.2).
    let blocks: u64 = doc_freq.values().map(|df| df.div_ceil(128)).sum();
    assert_eq!(sizes.block_metadata, 20 * blocks);
    assert_eq!(sizes.latent_directory, 20 * doc_freq.len() as u64);
    assert!(sizes.to_array().iter().all(|&b| b > 0), "{sizes:?}");
    assert_eq!(sizes.inverted_index(), sizes.postings + sizes.block_metadata + sizes.latent_directory);
    assert!(sizes.inverted_index() > sizes.postings + 20 * blocks);
    // The forward vectors: 3 bytes per non-zero, 4 per document and 4 per latent-id group, 8 per document
    // offset and one more (format-spec.md §3.7).
    let docs = s.documents as u64;
    assert!(sizes.forward >= 3 * nnz + 16 * docs + 8 && sizes.forward <= 3 * nnz + 20 * docs + 8, "{sizes:?}");
    assert!(sizes.approx >= 16 + doc_freq.len() as u64, "{sizes:?}");
    // Every byte of the file is in a section, the 16-byte header or the 228-byte footer of format version 2.
    assert_eq!(s.format_version, 2);
    assert_eq!(sizes.inverted_index() + sizes.documents() + sizes.approximate_index() + 16 + 228, s.bytes);
    assert_eq!(SectionSizes::NAMES[1], "block metadata");
    assert_eq!(SectionSizes::NAMES[8], "forward");
    assert_eq!(
        sizes.named().map(|(_, b)| b).sum::<u64>(),
        sizes.inverted_index() + sizes.documents() + sizes.approximate_index()
    );
}
