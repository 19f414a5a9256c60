//! Low-precision CPU kernels against f32: the vectors of the default model and of the tiny fixture models
//! stay close to the f32 ones (the accuracy bar of the default precision is measured on 500 real documents
//! and queries by `examples/precision_check.rs`; these are its quick, fixed-seed guards).

mod common;

use std::collections::HashSet;
use std::path::PathBuf;

use splaredb::encoder::{Device, Encoder, EncoderOptions, Precision, TextKind};
use splaredb::SparseVector;

fn jaccard(a: &SparseVector, b: &SparseVector) -> f64 {
    let x: HashSet<u32> = a.ids().iter().copied().collect();
    let y: HashSet<u32> = b.ids().iter().copied().collect();
    x.intersection(&y).count() as f64 / x.union(&y).count().max(1) as f64
}

fn mean_jaccard(a: &Encoder, b: &Encoder, texts: &[&str], kind: TextKind) -> f64 {
    let va = a.encode_batch(texts, kind).unwrap();
    let vb = b.encode_batch(texts, kind).unwrap();
    va.iter().zip(&vb).map(|(x, y)| jaccard(x, y)).sum::<f64>() / texts.len() as f64
}

const TEXTS: &[&str] = &[
    "command line tool to resize and convert images in batch",
    "This package provides a library for parsing and generating JSON documents in C, with a small footprint.",
    "Bibliothek zum Lesen und Schreiben von Audiodateien in vielen Formaten",
    "outil de sauvegarde incrémentale qui chiffre les données avant de les envoyer",
    "herramienta para sincronizar archivos entre dos ordenadores por la red",
    "A real-time strategy game set in ancient times, where players build cities and armies.",
    "The daemon monitors the health of hard disks using SMART and sends mail when a disk is failing.",
    "fonts with good coverage of Unicode, including Greek, Cyrillic and mathematical symbols",
];

#[test]
fn the_default_precision_stays_close_to_f32() {
    let Some(base) = common::model::default_model_at(Precision::F32) else { return };
    let Some(fast) = common::model::default_model() else { return };
    for kind in [TextKind::Query, TextKind::Document] {
        let j = mean_jaccard(&base, &fast, TEXTS, kind);
        assert!(j >= 0.95, "{:?} at {}: mean Jaccard {j:.3} against f32", kind, fast.precision().name());
    }
    // int8 is faster and drifts more (about 0.87-0.89 on real texts), but stays the same model.
    let Some(int8) = common::model::default_model_at(Precision::Int8) else { return };
    let j = mean_jaccard(&base, &int8, TEXTS, TextKind::Document);
    assert!(j >= 0.75, "int8: mean Jaccard {j:.3} against f32");
}

#[test]
fn fixture_models_agree_across_precisions() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for name in ["tiny-bert", "tiny-xlmr", "tiny-llama", "tiny-qwen2", "tiny-gemma2"] {
        let dir = root.join(name);
        if !dir.is_dir() {
            continue;
        }
        let load = |precision| {
            Encoder::load(&dir, &EncoderOptions { device: Device::Cpu, precision, ..Default::default() }).unwrap()
        };
        let base = load(Precision::F32);
        for precision in [Precision::Bf16, Precision::Int8] {
            let other = load(precision);
            // The backbone's states at the SAE layer: close to f32 relative to their scale (the pooled weights
            // are not compared: a latent at the edge of a token's TopK can fall out, a jump by design).
            let rows: Vec<Vec<u32>> = TEXTS.iter().map(|t| base.tokenize(t, TextKind::Document).unwrap()).collect();
            let (a, b) = (base.trace_ids(&rows, None).unwrap(), other.trace_ids(&rows, None).unwrap());
            let (mut worst, mut scale) = (0f32, 0f32);
            for (r, row) in rows.iter().enumerate() {
                for t in 0..row.len() {
                    for (x, y) in a.hidden[r][t].iter().zip(&b.hidden[r][t]) {
                        worst = worst.max((x - y).abs());
                        scale = scale.max(x.abs());
                    }
                }
            }
            let worst = worst / scale;
            eprintln!("{name} at {}: relative difference of hidden states {worst:.4}", other.precision().name());
            let tolerance = if other.precision() == Precision::Int8 { 0.15 } else { 0.05 };
            assert!(
                worst <= tolerance,
                "{name} at {}: hidden states differ by {worst} of their scale",
                other.precision().name()
            );
        }
    }
}

#[test]
fn encoding_from_rayon_tasks_matches_encoding_alone() {
    // The kernels run their tiles on rayon's pool; callers that are themselves rayon tasks must neither
    // deadlock, panic nor change results.
    use rayon::prelude::*;
    let Some(enc) = common::model::default_model() else { return };
    let long: Vec<String> = TEXTS.iter().map(|t| t.repeat(3)).collect();
    let alone = enc.encode_batch(&long, TextKind::Document).unwrap();
    let together: Vec<Vec<SparseVector>> =
        (0..6).into_par_iter().map(|_| enc.encode_batch(&long, TextKind::Document).unwrap()).collect();
    for run in together {
        assert_eq!(run, alone);
    }
}
