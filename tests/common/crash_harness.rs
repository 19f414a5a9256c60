//! The crash-recovery harness shared by `tests/crash_recovery.rs` and the `crash_sequence` fuzz target:
//! operation sequences, a runner that records the reference model after every attempted transaction, and a
//! verifier that reopens a crash image and compares it with the model.

use std::collections::BTreeMap;
use std::sync::Arc;

use splaredb::storage::{FaultConfig, FaultStorage, OpKind, Storage};
use splaredb::{Database, Document, Durability, Options, SparseVector};

use super::{reference_top_k, Rng};

pub const DIMS: u32 = 48;
pub const KEYS: u64 = 16;

pub type Model = BTreeMap<Vec<u8>, Document>;

#[derive(Debug, Clone)]
pub enum TxnOp {
    Put(u64, SparseVector),
    Delete(u64),
}

#[derive(Debug, Clone)]
pub enum Action {
    Commit(Vec<TxnOp>),
    Rollback(Vec<TxnOp>),
    Checkpoint,
    Compact,
    Reopen,
}

fn key(k: u64) -> String {
    format!("key-{k:02}")
}

fn doc(k: u64, v: &SparseVector) -> Document {
    Document::new(v.clone()).with_text(format!("document {k}"))
}

pub fn sequence(seed: u64) -> Vec<Action> {
    let mut rng = Rng(seed);
    let mut actions = Vec::new();
    for _ in 0..14 {
        let ops = |rng: &mut Rng| -> Vec<TxnOp> {
            (0..1 + rng.below(4))
                .map(|_| {
                    if rng.below(4) == 0 {
                        TxnOp::Delete(rng.below(KEYS))
                    } else {
                        TxnOp::Put(rng.below(KEYS), rng.vector(DIMS, 6, 8.0))
                    }
                })
                .collect()
        };
        actions.push(match rng.below(11) {
            0 => Action::Rollback(ops(&mut rng)),
            1 => Action::Checkpoint,
            2 => Action::Reopen,
            3 => Action::Compact,
            _ => Action::Commit(ops(&mut rng)),
        });
    }
    actions
}

fn options(durability: Durability) -> Options {
    // A small memtable makes some commits flush automatically (and merge, in the writer's thread, so that the
    // crash points are the same in every run).
    Options { background_merge: false, ..Options::with_dims(DIMS).durability(durability).memtable_size(3_000) }
}

/// What a run got through before it stopped.
pub struct Outcome {
    /// `models[i]` is the state after `i` transactions were attempted (`models[0]` is empty).
    pub models: Vec<Model>,
    /// Transactions that must survive.
    pub floor: usize,
    /// Whether an operation failed (crash or injected error).
    pub failed: bool,
}

/// Runs `actions` on `storage`, stopping at the first error.
pub fn run(storage: &Arc<dyn Storage>, durability: Durability, actions: &[Action]) -> Outcome {
    run_with(storage, options(durability), actions)
}

/// Like [`run`] with background merging on: merges run in their own thread, so where a crash lands varies
/// from run to run (the checks hold wherever it lands).
pub fn run_background(storage: &Arc<dyn Storage>, durability: Durability, actions: &[Action]) -> Outcome {
    let options = Options {
        background_merge: true,
        merge_policy: Some(splaredb::MergePolicy { segments_per_tier: 2, max_deleted_fraction: 0.2 }),
        ..options(durability)
    };
    run_with(storage, options, actions)
}

fn run_with(storage: &Arc<dyn Storage>, opts: Options, actions: &[Action]) -> Outcome {
    let durability = opts.durability;
    let mut out = Outcome { models: vec![Model::new()], floor: 0, failed: false };
    let Ok(mut db) = Database::open_with_storage(storage.clone(), opts.clone()) else {
        out.failed = true;
        return out;
    };
    for action in actions {
        let attempted = out.models.len() - 1;
        let ok = match action {
            Action::Commit(ops) | Action::Rollback(ops) => {
                let mut model = out.models[attempted].clone();
                let result = (|| {
                    let mut txn = db.begin_write()?;
                    for op in ops {
                        match op {
                            TxnOp::Put(k, v) => {
                                if model.contains_key(key(*k).as_bytes()) {
                                    txn.upsert(key(*k), doc(*k, v))?;
                                } else {
                                    txn.insert(key(*k), doc(*k, v))?;
                                }
                                model.insert(key(*k).into_bytes(), doc(*k, v));
                            }
                            TxnOp::Delete(k) => {
                                txn.delete(key(*k))?;
                                model.remove(key(*k).as_bytes());
                            }
                        }
                    }
                    if matches!(action, Action::Rollback(_)) {
                        txn.rollback();
                        return Ok(None);
                    }
                    let changed = model != out.models[attempted];
                    out.models.push(model.clone());
                    let info = txn.commit();
                    if info.is_err() || !changed {
                        // An empty commit writes nothing: it is not a transaction of its own.
                        if !changed {
                            out.models.pop();
                        }
                    }
                    info.map(Some)
                })();
                match result {
                    Ok(Some(_)) if durability == Durability::Full => {
                        out.floor = out.models.len() - 1;
                        true
                    }
                    Ok(_) => true,
                    Err(_) => false,
                }
            }
            Action::Checkpoint => db.checkpoint().map(|()| out.floor = attempted).is_ok(),
            Action::Compact => db.compact().map(|()| out.floor = attempted).is_ok(),
            Action::Reopen => {
                let closed = db.close().map(|()| out.floor = attempted).is_ok();
                match Database::open_with_storage(storage.clone(), opts.clone()) {
                    Ok(d) if closed => {
                        db = d;
                        true
                    }
                    _ => {
                        out.failed = true;
                        return out;
                    }
                }
            }
        };
        if !ok {
            out.failed = true;
            return out;
        }
    }
    let attempted = out.models.len() - 1;
    match db.close() {
        Ok(()) => out.floor = attempted,
        Err(_) => out.failed = true,
    }
    out
}

/// Opens `storage` after the run and checks it equals one of the allowed models.
pub fn verify(storage: Arc<dyn Storage>, durability: Durability, out: &Outcome, context: &str) -> usize {
    let db = Database::open_with_storage(storage, options(durability))
        .unwrap_or_else(|e| panic!("{context}: recovery failed: {e}"));
    let snap = db.read();
    let mut recovered = Model::new();
    for k in 0..KEYS {
        if let Some(d) = snap.get(key(k)).unwrap() {
            recovered.insert(key(k).into_bytes(), d);
        }
    }
    assert_eq!(snap.len(), recovered.len() as u64, "{context}: len disagrees with get");
    let found = (out.floor..out.models.len()).find(|&j| out.models[j] == recovered).unwrap_or_else(|| {
        panic!(
            "{context}: recovered state ({} docs) is not the state after any of transactions {}..={}",
            recovered.len(),
            out.floor,
            out.models.len() - 1
        )
    });
    let mut rng = Rng(found as u64 + 77);
    for _ in 0..3 {
        let q = rng.vector(DIMS, 8, 2.0);
        let got: Vec<(Vec<u8>, f32)> = snap.search(&q, 5).unwrap().into_iter().map(|h| (h.key, h.score)).collect();
        assert_eq!(got, reference_top_k(&recovered, &q, 5, 8.0), "{context}: search");
    }
    let report = db.check();
    assert!(report.is_ok(), "{context}: integrity check: {:?}", report.problems);
    found
}

pub fn dry_run_counts(durability: Durability, actions: &[Action]) -> Vec<(OpKind, u64)> {
    let fs = FaultStorage::new(FaultConfig::default());
    let storage: Arc<dyn Storage> = Arc::new(fs.clone());
    let out = run(&storage, durability, actions);
    assert!(!out.failed, "the sequence runs without faults");
    CRASH_KINDS.into_iter().map(|k| (k, fs.count(k))).collect()
}

/// Decodes an operation sequence from arbitrary bytes (for fuzzing): each byte picks an action, the next ones
/// its keys; vectors come from a generator seeded by the bytes.
pub fn actions_from_bytes(data: &[u8]) -> Vec<Action> {
    let mut rng = Rng(data.iter().fold(17u64, |h, &b| h.wrapping_mul(31).wrapping_add(b as u64)));
    let mut actions = Vec::new();
    let mut bytes = data.iter().copied();
    while let Some(b) = bytes.next() {
        if actions.len() >= 40 {
            break;
        }
        let mut ops = Vec::new();
        for _ in 0..1 + (b >> 4) % 4 {
            let k = bytes.next().unwrap_or(0) as u64 % KEYS;
            if k.is_multiple_of(5) {
                ops.push(TxnOp::Delete(k));
            } else {
                ops.push(TxnOp::Put(k, rng.vector(DIMS, 6, 8.0)));
            }
        }
        actions.push(match b % 11 {
            0 => Action::Rollback(ops),
            1 => Action::Checkpoint,
            2 => Action::Reopen,
            3 => Action::Compact,
            _ => Action::Commit(ops),
        });
    }
    actions
}

/// Runs `actions` with a crash at the `at`-th operation of `kind`, then verifies the crash image made with
/// `damage_seed`. Returns the number of transactions recovered.
pub fn crash_and_verify(
    actions: &[Action],
    durability: Durability,
    config: FaultConfig,
    damage_seed: u64,
    context: &str,
) -> usize {
    let fs = FaultStorage::new(config);
    let storage: Arc<dyn Storage> = Arc::new(fs.clone());
    let out = run(&storage, durability, actions);
    let image = fs.crash_image(damage_seed);
    verify(Arc::new(image), durability, &out, context)
}

/// The kinds of crash point explored.
pub const CRASH_KINDS: [OpKind; 6] =
    [OpKind::Sync, OpKind::SyncDir, OpKind::Rename, OpKind::Write, OpKind::Create, OpKind::Remove];
