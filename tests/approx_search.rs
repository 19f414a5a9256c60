//! Approximate search (`SearchOptions::approx`): with every document a candidate it is the exact answer, hit
//! for hit; with fewer, every hit carries its exact score and deleted documents never come back; the answers
//! survive reopen and merges; segments of format version 1 (no approximate index) are scored exactly and
//! rewritten with the index by their next merge; `check` covers the new sections.

mod common;

use std::collections::BTreeMap;

use common::{reference_top_k, Rng};
use splaredb::{Database, Document, Durability, Options, SearchOptions, SparseVector};

const DIMS: u32 = 300;
const MAX_WEIGHT: f32 = 2.0;

fn options() -> Options {
    let mut o = Options::with_dims(DIMS).durability(Durability::Off);
    o.merge_policy = None;
    o.max_weight = MAX_WEIGHT;
    o
}

/// A flat SAE-like vector: latents skewed towards low ids (so some are in most documents and get bitmaps),
/// weights between 0.3 and 1.2.
fn flat_vector(rng: &mut Rng, nnz: usize) -> SparseVector {
    let mut pairs = BTreeMap::new();
    while pairs.len() < nnz {
        let latent = (rng.below(DIMS as u64) * rng.below(DIMS as u64) / DIMS as u64) as u32;
        pairs.insert(latent, 0.3 + 0.9 * rng.unit());
    }
    SparseVector::from_pairs(pairs).unwrap()
}

fn pairs(hits: Vec<splaredb::Hit>) -> Vec<(Vec<u8>, f32)> {
    hits.into_iter().map(|h| (h.key, h.score)).collect()
}

/// Segments with deletions and replacements across them, and a memtable; returns the live documents.
fn build(db: &Database, rng: &mut Rng, batches: usize) -> BTreeMap<Vec<u8>, Document> {
    let mut model = BTreeMap::new();
    for batch in 0..batches {
        let mut txn = db.begin_write().unwrap();
        for i in 0..400 {
            let key = format!("k{:05}", rng.below(1500));
            let nnz = 5 + rng.below(40) as usize;
            let doc = Document::new(flat_vector(rng, nnz));
            txn.upsert(&key, doc.clone()).unwrap();
            model.insert(key.into_bytes(), doc);
            if i % 9 == 0 {
                let victim = format!("k{:05}", rng.below(1500));
                txn.delete(&victim).unwrap();
                model.remove(victim.as_bytes());
            }
        }
        txn.commit().unwrap();
        if batch + 1 < batches {
            db.checkpoint().unwrap();
        }
    }
    model
}

/// A fresh database with `batches` of [`build`], checkpointed: its directory, the database, the generator
/// (to go on drawing queries) and the live documents.
fn built(seed: u64, batches: usize) -> (tempfile::TempDir, Database, Rng, BTreeMap<Vec<u8>, Document>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    let mut rng = Rng(seed);
    let model = build(&db, &mut rng, batches);
    db.checkpoint().unwrap();
    (dir, db, rng, model)
}

/// Checks approximate search against the brute-force reference: all candidates give the exact answer; few
/// candidates give exact scores, sorted, live keys only, and most of the exact top-k.
fn check_against_reference(db: &Database, model: &BTreeMap<Vec<u8>, Document>, rng: &mut Rng, queries: usize) {
    let snap = db.read();
    let mut found = 0usize;
    let mut wanted = 0usize;
    for _ in 0..queries {
        let nnz = 10 + rng.below(30) as usize;
        let q = flat_vector(rng, nnz);
        let reference = reference_top_k(model, &q, 10, MAX_WEIGHT);
        let all = SearchOptions::top(10).candidates(model.len());
        assert_eq!(pairs(snap.search_with(&q, &all).unwrap()), reference);
        for threads in [1, 3] {
            let few = pairs(snap.search_with(&q, &SearchOptions::top(10).candidates(50).threads(threads)).unwrap());
            assert!(few.windows(2).all(|w| w[0].1 >= w[1].1), "sorted by score");
            for (key, score) in &few {
                let doc = model.get(key).expect("a live document");
                assert_eq!(*score, common::reference_score(&q, &doc.vector, MAX_WEIGHT), "exact score");
            }
            if threads == 1 {
                wanted += reference.len();
                found += few.iter().filter(|h| reference.contains(h)).count();
            }
        }
    }
    eprintln!("recall {found}/{wanted}");
    assert!(found as f64 >= 0.8 * wanted as f64, "recall {found}/{wanted}");
}

#[test]
fn approximate_search_matches_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    let mut rng = Rng(31);
    let model = build(&db, &mut rng, 5);
    assert!(db.segments().len() >= 4);
    assert!(db.segments().iter().all(|s| s.format_version == 2 && s.sections.approximate_index() > 0));
    check_against_reference(&db, &model, &mut rng, 30);
    assert!(db.check().is_ok());

    // Reopened: the same answers.
    let q = flat_vector(&mut rng, 25);
    let options_few = SearchOptions::top(10).candidates(15);
    let before = db.read().search_with(&q, &options_few).unwrap();
    db.close().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    assert_eq!(db.read().search_with(&q, &options_few).unwrap(), before);
    check_against_reference(&db, &model, &mut rng, 10);

    // Merged into one segment (deletions dropped): still the reference.
    db.compact().unwrap();
    assert_eq!(db.segments().len(), 1);
    check_against_reference(&db, &model, &mut rng, 20);
    assert!(db.check().is_ok());
}

#[test]
fn segments_wider_than_a_block_of_the_first_stage() {
    // 70,000 documents: the first stage scores them in three blocks of 32,768, and the posting lists without
    // a bitmap run over many posting blocks, each crossing the block boundaries at its own place.
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    let mut rng = Rng(21);
    let mut model = BTreeMap::new();
    let mut txn = db.begin_write().unwrap();
    for i in 0..70_000u32 {
        let key = format!("w{i:06}");
        let nnz = 4 + rng.below(8) as usize;
        let mut vector = flat_vector(&mut rng, nnz);
        if i < 300 {
            // A list of three posting blocks that ends in the first block of documents.
            let mut pairs: BTreeMap<u32, f32> = vector.iter().collect();
            pairs.insert(DIMS - 1, 1.0);
            vector = SparseVector::from_pairs(pairs).unwrap();
        }
        let doc = Document::new(vector);
        txn.upsert(&key, doc.clone()).unwrap();
        model.insert(key.into_bytes(), doc);
        if i % 97 == 0 {
            let victim = format!("w{:06}", rng.below(i as u64 + 1));
            txn.delete(&victim).unwrap();
            model.remove(victim.as_bytes());
        }
    }
    txn.commit().unwrap();
    db.checkpoint().unwrap();
    assert_eq!(db.segments().len(), 1);
    check_against_reference(&db, &model, &mut rng, 6);
    let q = SparseVector::new(vec![2, 40, DIMS - 1], vec![0.5, 1.0, 0.7]).unwrap();
    let all = SearchOptions::top(10).candidates(model.len());
    assert_eq!(pairs(db.read().search_with(&q, &all).unwrap()), reference_top_k(&model, &q, 10, MAX_WEIGHT));
}

#[test]
fn default_setting_and_empty_cases() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    let q = SparseVector::new(vec![1, 2], vec![1.0, 1.0]).unwrap();
    assert!(db.read().search_with(&q, &SearchOptions::top(10).approximate()).unwrap().is_empty());
    assert_eq!(SearchOptions::top(5).approximate().approx, Some(SearchOptions::DEFAULT_CANDIDATES));
    let mut rng = Rng(3);
    let model = build(&db, &mut rng, 2);
    db.checkpoint().unwrap();
    let snap = db.read();
    // k = 0, a query of latents no document has, candidates below k (raised to k).
    assert!(snap.search_with(&q, &SearchOptions::top(0).approximate()).unwrap().is_empty());
    let nothing = SparseVector::new(vec![DIMS - 1], vec![1.0]).unwrap();
    let exact = snap.search_with(&nothing, &SearchOptions::top(10)).unwrap();
    assert_eq!(snap.search_with(&nothing, &SearchOptions::top(10).candidates(1)).unwrap(), exact);
    for _ in 0..10 {
        let q = flat_vector(&mut rng, 20);
        let hits = snap.search_with(&q, &SearchOptions::top(10).candidates(3)).unwrap();
        assert_eq!(hits.len(), 10.min(model.len()));
        let with_docs = snap.search_with(&q, &SearchOptions::top(10).candidates(3).with_documents()).unwrap();
        assert!(with_docs.iter().all(|h| h.document.as_ref().is_some_and(|d| model[&h.key] == *d)));
    }
}

#[test]
fn version_1_segments_are_scored_exactly_and_upgraded_by_merges() {
    let (dir, db, mut rng, model) = built(8, 3);
    db.close().unwrap();
    // Rewrite every segment as a database written before the approximate index existed would hold it.
    for path in common::files(dir.path(), ".seg") {
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, splaredb::fuzzing::segment_as_version_1(&bytes).unwrap()).unwrap();
    }
    let db = Database::open(dir.path(), options()).unwrap();
    assert!(db.segments().iter().all(|s| s.format_version == 1 && s.sections.approximate_index() == 0));
    assert!(db.check().is_ok());
    let snap = db.read();
    for _ in 0..10 {
        let q = flat_vector(&mut rng, 20);
        // No approximate index: exact, whatever the candidate count.
        let reference = reference_top_k(&model, &q, 10, MAX_WEIGHT);
        assert_eq!(pairs(snap.search_with(&q, &SearchOptions::top(10).candidates(1)).unwrap()), reference);
    }
    drop(snap);
    db.compact().unwrap();
    assert!(db.segments().iter().all(|s| s.format_version == 2 && s.sections.approximate_index() > 0));
    assert!(db.check().is_ok());
    check_against_reference(&db, &model, &mut rng, 10);
}

#[test]
fn untrusted_sizes_allocate_nothing_large() {
    let (dir, db, mut rng, model) = built(5, 1);
    // A candidate count far past the segment's size is the whole segment (the exact answer).
    let q = flat_vector(&mut rng, 20);
    let all = db.read().search_with(&q, &SearchOptions::top(10).candidates(usize::MAX)).unwrap();
    assert_eq!(pairs(all), reference_top_k(&model, &q, 10, MAX_WEIGHT));
    db.close().unwrap();
    // The fuzz target's regression (CI, segment_reader): a footer claiming 2^32 - 1 dimensions, checksums
    // fixed (mode byte 1), must not size the re-ranking table by it.
    let path = common::files(dir.path(), ".seg").pop().unwrap();
    let mut input = vec![1u8];
    input.extend(std::fs::read(&path).unwrap());
    let dims_at = input.len() - 24;
    input[dims_at..dims_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    splaredb::fuzzing::segment(&input);
}

#[test]
fn check_finds_a_forward_vector_that_disagrees() {
    let (dir, db, _, _) = built(4, 1);
    db.close().unwrap();
    // Change one impact code in the forward section and fix the section's checksum: the file opens, and
    // `check` reports the disagreement with the posting lists.
    let path = common::files(dir.path(), ".seg").pop().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let damaged = splaredb::fuzzing::segment_with_forward_byte_changed(&bytes).unwrap();
    std::fs::write(&path, damaged).unwrap();
    let db = Database::open(dir.path(), options()).unwrap();
    let report = db.check();
    assert!(!report.is_ok());
    assert!(report.problems.iter().any(|p| p.contains("forward vector")), "{:?}", report.problems);
}

#[test]
fn the_index_can_be_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut without = options();
    without.approximate_index = false;
    let db = Database::open(dir.path(), without.clone()).unwrap();
    let mut rng = Rng(12);
    let model = build(&db, &mut rng, 3);
    db.checkpoint().unwrap();
    db.compact().unwrap();
    assert!(db.segments().iter().all(|s| s.format_version == 1 && s.sections.approximate_index() == 0));
    let q = flat_vector(&mut rng, 20);
    let reference = reference_top_k(&model, &q, 10, MAX_WEIGHT);
    assert_eq!(pairs(db.read().search_with(&q, &SearchOptions::top(10).approximate()).unwrap()), reference);
    db.close().unwrap();
    // Opened with the index on, the next merge writes it.
    let db = Database::open(dir.path(), options()).unwrap();
    db.compact().unwrap();
    assert!(db.segments().iter().all(|s| s.format_version == 2 && s.sections.approximate_index() > 0));
    check_against_reference(&db, &model, &mut rng, 5);
}
