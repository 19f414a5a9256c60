//! The encoder against reference outputs computed by Hugging Face transformers + torch
//! (`tools/goldens/make_goldens.py`): tiny random BERT, XLM-R, Llama (llama3 RoPE, LoRA), Gemma-2 and Qwen2
//! models with SAEs in every supported layout. Max abs error ≤ 1e-4 in f32 on hidden states at the SAE's
//! layer, per-token latents, pooled vectors, and the pruned vectors of text inputs (tokenizer included).

use std::path::PathBuf;

use serde_json::Value;
use splaredb::encoder::{Device, Encoder, EncoderOptions, Precision, TextKind};

const TOL: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length differs");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn check_fixture(name: &str) {
    let dir = fixture(name);
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap()).unwrap();
    let enc =
        Encoder::load(&dir, &EncoderOptions { device: Device::Cpu, precision: Precision::F32, ..Default::default() })
            .unwrap_or_else(|e| panic!("{name}: load failed: {e}"));
    for case in golden["id_cases"].as_array().unwrap() {
        let cname = case["name"].as_str().unwrap();
        let mask: Vec<Vec<u64>> = case["attention_mask"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect())
            .collect();
        let rows: Vec<Vec<u32>> = case["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&mask)
            .map(|(r, m)| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .zip(m)
                    .filter(|(_, &m)| m == 1)
                    .map(|(x, _)| x.as_u64().unwrap() as u32)
                    .collect()
            })
            .collect();
        let trace = enc.trace_ids(&rows, Some(case["bidirectional"].as_bool().unwrap())).unwrap();
        let (mut eh, mut el, mut ep) = (0f32, 0f32, 0f32);
        for (b, row) in rows.iter().enumerate() {
            for t in 0..row.len() {
                eh = eh.max(max_abs(&trace.hidden[b][t], &floats(&case["hidden"][b][t])));
                el = el.max(max_abs(&trace.latents[b][t], &floats(&case["latents"][b][t])));
            }
            ep = ep.max(max_abs(&trace.pooled[b], &floats(&case["pooled"][b])));
        }
        println!("{name}/{cname}: hidden {eh:.2e} latents {el:.2e} pooled {ep:.2e}");
        assert!(eh <= TOL && el <= TOL && ep <= TOL, "{name}/{cname}: hidden {eh} latents {el} pooled {ep}");
    }
    for case in golden["text_cases"].as_array().unwrap() {
        let cname = case["name"].as_str().unwrap();
        let kind = if case["kind"] == "query" { TextKind::Query } else { TextKind::Document };
        let text = case["text"].as_str().unwrap();
        let ids: Vec<u32> = case["input_ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        assert_eq!(enc.tokenize(text, kind).unwrap(), ids, "{name}/{cname}: token ids");
        let v = enc.encode_batch(&[text], kind).unwrap().remove(0);
        let want_ids: Vec<u32> =
            case["indices"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        assert_eq!(v.ids(), &want_ids[..], "{name}/{cname}: kept latents");
        let e = max_abs(v.weights(), &floats(&case["values"]));
        assert!(e <= TOL, "{name}/{cname}: values differ by {e}");
    }
}

#[test]
fn tiny_bert_matches_transformers() {
    check_fixture("tiny-bert");
}

#[test]
fn tiny_xlm_roberta_matches_transformers() {
    check_fixture("tiny-xlmr");
}

#[test]
fn tiny_llama_with_lora_and_llama3_rope_matches_transformers() {
    check_fixture("tiny-llama");
}

#[test]
fn tiny_gemma2_matches_transformers() {
    check_fixture("tiny-gemma2");
}

#[test]
fn tiny_qwen2_matches_transformers() {
    check_fixture("tiny-qwen2");
}
