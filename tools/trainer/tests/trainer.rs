//! The trainer on the tiny BERT fixture (3 blocks of width 32, a 256-latent TopK SAE at layer 2): parity with
//! the splaredb encoder, a short run that lowers the loss, deterministic resumption, exported models that the
//! encoder loads and that encode as the trainer does, and SAE training (recovery of a known dictionary, and a
//! trained SAE exported as a model).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use splare_trainer::data::Example;
use splare_trainer::export::{read_splare_json, sae_model_config, write_config_and_card, write_finetuned};
use splare_trainer::finetune::{batch_loss, Cadence, FinetuneOptions, Run, Trained};
use splare_trainer::lora::LoraConfig;
use splare_trainer::mine::{mine, MineOptions, Ranker};
use splare_trainer::model::SplareModel;
use splare_trainer::optim::AdamSettings;
use splare_trainer::sae::SparseBatch;
use splare_trainer::states::collect_states;
use splare_trainer::train_sae::{SaeOptions, SaeRun};
use splare_trainer::TrainError;
use splaredb::encoder::{Encoder, EncoderOptions, Precision, TextKind};
use splaredb_eval_core::dense::DenseSystem;
use splaredb_eval_core::dense_cache::{self, DenseCache};
use splaredb_eval_core::{BeirDataset, System};

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-bert")
}

const TEXTS: [&str; 8] = [
    "the sparse autoencoder learns interpretable latents",
    "the inverted index stores posting lists on disk",
    "a quick brown fox jumps over the lazy dog",
    "what is the capital of france",
    "paris is the capital city of france",
    "the encoder maps text to weighted latent features",
    "my old laptop reads the news every morning",
    "the river trail follows the mountain village",
];

fn examples() -> Vec<Example> {
    let pairs = [(3, 4, 2), (0, 5, 7), (1, 2, 6), (5, 0, 3), (7, 6, 1), (2, 7, 4)];
    pairs
        .iter()
        .enumerate()
        .map(|(i, &(q, p, n))| Example {
            query_id: format!("q{i}"),
            query: TEXTS[q].split(' ').take(4).collect::<Vec<_>>().join(" "),
            doc_ids: vec![format!("d{p}"), format!("d{n}"), format!("d{}", (n + 1) % 8)],
            docs: vec![TEXTS[p].into(), TEXTS[n].into(), TEXTS[(n + 1) % 8].into()],
            teacher: vec![4.0, 0.5, 0.0],
        })
        .collect()
}

fn options(model: &Path, steps: usize) -> FinetuneOptions {
    FinetuneOptions {
        model: model.to_path_buf(),
        train: "train.jsonl".into(),
        lora: LoraConfig {
            rank: 4,
            alpha: 8.0,
            targets: vec!["query".into(), "value".into(), "output.dense".into()],
            from_layer: 0,
        },
        init_adapter: None,
        tau: 1.0,
        lambda_q: 1e-3,
        lambda_d: 1e-3,
        lambda_warmup: 4,
        contrastive: 0.5,
        lr: 1e-2,
        warmup_ratio: 0.1,
        adam: AdamSettings::default(),
        batch: 2,
        accumulation: 2,
        docs_per_query: 3,
        steps,
        max_query_tokens: 16,
        max_doc_tokens: 16,
        seed: 3,
    }
}

/// The pooled vectors of the library encoder (before top-k pruning) for `texts`.
fn library_pooled(enc: &Encoder, texts: &[&str], kind: TextKind) -> Vec<Vec<f32>> {
    let rows: Vec<Vec<u32>> = texts.iter().map(|t| enc.tokenize(t, kind).unwrap()).collect();
    enc.trace_ids(&rows, None).unwrap().pooled
}

fn assert_same(sparse: &SparseBatch, dense: &[Vec<f32>], tol: f32) {
    let values: Vec<f32> = sparse.values.to_vec1().unwrap();
    for (r, row) in dense.iter().enumerate() {
        let nz: Vec<(u32, f32)> =
            row.iter().enumerate().filter(|(_, &v)| v > 0.0).map(|(j, &v)| (j as u32, v)).collect();
        let mine: Vec<(u32, f32)> =
            (sparse.offsets[r]..sparse.offsets[r + 1]).map(|i| (sparse.latents[i], values[i])).collect();
        assert_eq!(nz.len(), mine.len(), "row {r}: non-zero count");
        for ((a, x), (b, y)) in nz.iter().zip(&mine) {
            assert_eq!(a, b, "row {r}");
            assert!((x - y).abs() <= tol, "row {r} latent {a}: library {x} trainer {y}");
        }
    }
}

#[test]
fn a_fresh_adapter_reproduces_the_library_encoder() {
    let lora = options(&tiny(), 1).lora;
    let model = SplareModel::load(&tiny(), Some(&lora), 1, &Device::Cpu).unwrap();
    for kind in [TextKind::Query, TextKind::Document] {
        let sparse = model.encode(&TEXTS, kind, 0).unwrap();
        assert_same(&sparse, &library_pooled(&model.encoder, &TEXTS, kind), 1e-5);
    }
}

#[test]
fn texts_of_mixed_lengths_run_in_groups_with_the_same_vectors_and_gradients() {
    let lora = options(&tiny(), 1).lora;
    let model = SplareModel::load(&tiny(), Some(&lora), 1, &Device::Cpu).unwrap();
    // 24 texts of 1 to 12 words (the fixture keeps 16 tokens): short ones would mostly be padding.
    let words: Vec<&str> = TEXTS.iter().flat_map(|t| t.split(' ')).collect();
    let owned: Vec<String> = (0..24).map(|i| words[i..i + 1 + (i * 5) % 12].join(" ")).collect();
    let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
    let batch = model.tokens(&texts, TextKind::Document, 0).unwrap();
    let groups = splare_trainer::model::length_groups(&batch, splare_trainer::model::GROUP_ROWS);
    assert!(groups.len() > 1, "{groups:?}");
    let grouped = model.encode(&texts, TextKind::Document, 0).unwrap();
    assert_same(&grouped, &library_pooled(&model.encoder, &texts, TextKind::Document), 1e-5);
    // The same values and gradients as one padded batch.
    let single = model.sae.pool(&model.bert.forward(&batch).unwrap(), &batch).unwrap();
    assert_eq!(single.offsets, grouped.offsets);
    assert_eq!(single.latents, grouped.latents);
    let loss = |b: &SparseBatch| b.values.sqr().unwrap().sum_all().unwrap();
    let (ga, gb) = (loss(&grouped).backward().unwrap(), loss(&single).backward().unwrap());
    let mut checked = 0;
    for (name, var) in model.bert.adapters.named_vars() {
        let (Some(a), Some(b)) = (ga.get(var.as_tensor()), gb.get(var.as_tensor())) else { continue };
        let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
        let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-6);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-4 * scale, "{name}: {x} vs {y}");
        }
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn fine_tuning_lowers_the_loss_and_exports_models_the_encoder_loads() {
    let dir = tempfile::tempdir().unwrap();
    let ex = examples();
    let o = options(&tiny(), 30);
    let mut run = Run::open(&dir.path().join("run"), o.clone(), ex.clone(), &Device::Cpu).unwrap();
    let all: Vec<&Example> = ex.iter().collect();
    let before = batch_loss(&run.model, &o, &all, 1000).unwrap().log;
    run.train(Cadence { log_every: 10, checkpoint_every: 10, stop_after: None }, |_| {}).unwrap();
    let after = batch_loss(&run.model, &o, &all, 1000).unwrap().log;
    assert!(after.loss < 0.7 * before.loss, "loss {} -> {}", before.loss, after.loss);
    assert!(after.kl < before.kl, "kl {} -> {}", before.kl, after.kl);
    let lines = std::fs::read_to_string(dir.path().join("run/log.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 30);

    // Exported with the adapter kept apart, and merged: the encoder loads both and encodes as the trainer does.
    for merged in [false, true] {
        let out = dir.path().join(if merged { "merged" } else { "adapter" });
        write_finetuned(&tiny(), &out, &run.model.bert.adapters, "tiny-ft", merged, "# tiny-ft\n").unwrap();
        let enc = Encoder::load(&out, &EncoderOptions { precision: Precision::F32, ..Default::default() }).unwrap();
        assert_eq!(enc.config().name, "tiny-ft");
        for kind in [TextKind::Query, TextKind::Document] {
            let sparse = run.model.encode(&TEXTS, kind, 0).unwrap();
            assert_same(&sparse, &library_pooled(&enc, &TEXTS, kind), 1e-4);
        }
        assert!(out.join("README.md").is_file());
        assert_eq!(out.join("adapter/adapter_config.json").is_file(), !merged);
    }
}

#[test]
fn a_resumed_run_equals_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let o = options(&tiny(), 6);
    let cadence = Cadence { log_every: 1, checkpoint_every: 2, stop_after: None };
    let mut a = Run::open(&dir.path().join("a"), o.clone(), examples(), &Device::Cpu).unwrap();
    a.train(cadence, |_| {}).unwrap();
    let mut b = Run::open(&dir.path().join("b"), o.clone(), examples(), &Device::Cpu).unwrap();
    b.train(Cadence { stop_after: Some(3), ..cadence }, |_| {}).unwrap();
    assert_eq!(b.step, 3);
    drop(b);
    let mut b = Run::open(&dir.path().join("b"), o.clone(), examples(), &Device::Cpu).unwrap();
    assert_eq!(b.step, 3);
    b.train(cadence, |_| {}).unwrap();
    assert_eq!(b.step, 6);
    for ((na, va), (nb, vb)) in a.model.bert.adapters.named_vars().iter().zip(b.model.bert.adapters.named_vars()) {
        assert_eq!(na, &nb);
        let x: Vec<f32> = va.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let y: Vec<f32> = vb.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(x, y, "{na} differs after resumption");
    }
    // Export loads the checkpoint alone (no examples, no optimizer): the same adapters at the same step.
    let trained = Trained::load(&dir.path().join("a"), &Device::Cpu).unwrap();
    assert_eq!(trained.step, 6);
    assert_eq!(trained.options, o);
    for ((na, va), (nt, vt)) in a.model.bert.adapters.named_vars().iter().zip(trained.model.bert.adapters.named_vars())
    {
        assert_eq!(na, &nt);
        let x: Vec<f32> = va.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let y: Vec<f32> = vt.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(x, y, "{na} differs in the loaded checkpoint");
    }
    // A run that was never checkpointed has nothing to export.
    let fresh = dir.path().join("fresh");
    Run::open(&fresh, o.clone(), examples(), &Device::Cpu).unwrap();
    match Trained::load(&fresh, &Device::Cpu) {
        Err(TrainError::Invalid { path, why }) => {
            assert!(path.ends_with("state.json") && why.contains("no checkpoint"), "{why}")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a run without a checkpoint was loaded"),
    }
    // Other settings in the same directory are refused.
    let other = FinetuneOptions { tau: 2.0, ..o };
    match Run::open(&dir.path().join("b"), other, examples(), &Device::Cpu) {
        Err(TrainError::Resume { why, .. }) => assert!(why.contains("tau"), "{why}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a run with other settings was resumed"),
    }
}

#[test]
fn a_run_continues_an_exported_adapter_and_refuses_a_fine_tuned_model_as_base() {
    let dir = tempfile::tempdir().unwrap();
    let o = options(&tiny(), 4);
    let mut first = Run::open(&dir.path().join("first"), o.clone(), examples(), &Device::Cpu).unwrap();
    first.train(Cadence { log_every: 10, checkpoint_every: 10, stop_after: None }, |_| {}).unwrap();
    let model = dir.path().join("tiny-ft");
    write_finetuned(&tiny(), &model, &first.model.bert.adapters, "tiny-ft", false, "# tiny-ft\n").unwrap();
    let values = |r: &Run| -> Vec<Vec<f32>> {
        r.model
            .bert
            .adapters
            .named_vars()
            .iter()
            .map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
            .collect()
    };

    // The continued run starts where the first ended (not from a fresh initialisation) and trains on.
    let cont = FinetuneOptions { init_adapter: Some(model.join("adapter")), ..o.clone() };
    let mut second = Run::open(&dir.path().join("second"), cont.clone(), examples(), &Device::Cpu).unwrap();
    assert_eq!(values(&second), values(&first));
    let fresh = Run::open(&dir.path().join("fresh"), o.clone(), examples(), &Device::Cpu).unwrap();
    assert_ne!(values(&fresh), values(&first));
    second.train(Cadence { log_every: 10, checkpoint_every: 1, stop_after: Some(2) }, |_| {}).unwrap();
    let trained = values(&second);
    assert_ne!(trained, values(&first));
    // Resuming reads the checkpoint, not the initial adapter again.
    drop(second);
    let again = Run::open(&dir.path().join("second"), cont, examples(), &Device::Cpu).unwrap();
    assert_eq!(again.step, 2);
    assert_eq!(values(&again), trained);

    // An adapter of another shape is refused with the reason.
    let cases = [
        (LoraConfig { rank: 8, alpha: 16.0, ..o.lora.clone() }, "rank"),
        (LoraConfig { targets: vec!["query".into()], ..o.lora.clone() }, "does not train"),
        (
            LoraConfig {
                targets: vec!["query".into(), "key".into(), "value".into(), "output.dense".into()],
                ..o.lora.clone()
            },
            "missing tensor",
        ),
    ];
    for (i, (lora, want)) in cases.into_iter().enumerate() {
        let bad = FinetuneOptions { lora, init_adapter: Some(model.join("adapter")), ..o.clone() };
        let e = Run::open(&dir.path().join(format!("bad{i}")), bad, examples(), &Device::Cpu).err().expect("refused");
        assert!(e.to_string().contains(want), "{e}");
    }
    // A fine-tuned model as the base would lose its adapter: refused, pointing at --init-adapter.
    let e = Run::open(&dir.path().join("base"), options(&model, 2), examples(), &Device::Cpu).err().expect("refused");
    assert!(e.to_string().contains("--init-adapter"), "{e}");
}

/// The BEIR fixture, the tiny model (f32) and a work directory, for the mining tests.
fn mining_fixture() -> (PathBuf, Arc<Encoder>, tempfile::TempDir) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/beir-mini");
    let enc =
        Arc::new(Encoder::load(tiny(), &EncoderOptions { precision: Precision::F32, ..Default::default() }).unwrap());
    (data, enc, tempfile::tempdir().unwrap())
}

/// Mining the fixture's test queries: 2 negatives from the top `depth` of `ranker`.
fn mine_options(ranker: Ranker, data: &Path, work: &Path, depth: usize) -> MineOptions {
    MineOptions {
        ranker,
        datasets: vec![data.to_path_buf()],
        split: "test".into(),
        fraction: 1.0,
        negatives: 2,
        depth,
        teacher_temperature: 0.5,
        teacher_prefixes: ("query: ".into(), "passage: ".into()),
        max_queries: None,
        seed: 1,
        work: work.to_path_buf(),
    }
}

#[test]
fn mining_takes_teacher_embeddings_from_the_dense_cache() {
    let (data, enc, work) = mining_fixture();
    let opts = mine_options(Ranker::Splaredb, &data, work.path(), 6);
    let plain = mine(enc.clone(), enc.clone(), &opts).unwrap();
    assert!(plain.len() >= 10, "{}", plain.len());
    assert!(plain.iter().all(|e| e.docs.len() == 3 && e.teacher.len() == 3));

    // A cache of the very embeddings gives the same examples.
    let ds = BeirDataset::open(&data, "test", 1.0).unwrap();
    let docs = ds.corpus().unwrap();
    let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
    let rows = enc.embed(&texts, "passage: ").unwrap();
    let mut cache = DenseCache {
        ids: docs.iter().map(|d| d.id.clone()).collect(),
        dim: rows[0].len(),
        matrix: rows.concat(),
        seconds: 0.0,
    };
    let path = dense_cache::cache_path(work.path(), &ds.corpus_fingerprint().unwrap(), &enc, "passage: ");
    dense_cache::write(&path, &cache).unwrap();
    let cached = mine(enc.clone(), enc.clone(), &opts).unwrap();
    assert_eq!(cached.len(), plain.len());
    for (a, b) in plain.iter().zip(&cached) {
        assert_eq!(a.doc_ids, b.doc_ids);
        for (x, y) in a.teacher.iter().zip(&b.teacher) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
    // The scores really come from the file: zeroed rows give zero logits; a document missing from the cache
    // is embedded instead.
    cache.matrix.iter_mut().for_each(|x| *x = 0.0);
    let missing = cache.ids.remove(0);
    cache.matrix.drain(..cache.dim);
    dense_cache::write(&path, &cache).unwrap();
    let zeroed = mine(enc.clone(), enc.clone(), &opts).unwrap();
    for (a, b) in plain.iter().zip(&zeroed) {
        for ((id, x), y) in a.doc_ids.iter().zip(&a.teacher).zip(&b.teacher) {
            if *id == missing {
                assert!((x - y).abs() < 1e-5);
            } else {
                assert_eq!(*y, 0.0);
            }
        }
    }
}

#[test]
fn dense_mining_draws_negatives_from_the_teachers_top_documents() {
    let (data, enc, work) = mining_fixture();
    let opts = mine_options(Ranker::Dense, &data, work.path(), 4);
    let mined = mine(enc.clone(), enc.clone(), &opts).unwrap();
    assert!(mined.len() >= 10, "{}", mined.len());
    // Every negative is among the teacher's own top `depth` documents for its query, never a relevant one.
    let ds = BeirDataset::open(&data, "test", 1.0).unwrap();
    let mut dense = DenseSystem::new(enc.clone(), work.path(), "query: ", "passage: ");
    dense.index(&ds).unwrap();
    for e in &mined {
        let qid = e.query_id.rsplit('/').next().unwrap();
        let relevant = &ds.qrels[qid];
        assert!(relevant.get(&e.doc_ids[0]).is_some_and(|&g| g > 0), "{}", e.query_id);
        let top = dense.search(&e.query, opts.depth).unwrap().ids;
        for neg in &e.doc_ids[1..] {
            assert!(relevant.get(neg).is_none_or(|&g| g <= 0), "{neg} is relevant to {}", e.query_id);
            assert!(top.contains(neg), "{neg} is not in the teacher's top {} for {}", opts.depth, e.query_id);
        }
    }
    // The corpus was embedded once, into the dense baseline's cache, which the teacher scores then read.
    let path = dense_cache::cache_path(work.path(), &ds.corpus_fingerprint().unwrap(), &enc, "passage: ");
    assert!(path.is_file());
}

#[test]
fn bad_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(FinetuneOptions, &str)> = vec![
        (FinetuneOptions { docs_per_query: 4, ..options(&tiny(), 2) }, "fewer than --docs-per-query"),
        (FinetuneOptions { batch: 0, ..options(&tiny(), 2) }, "at least 1"),
        (FinetuneOptions { tau: 0.0, ..options(&tiny(), 2) }, "positive"),
        (FinetuneOptions { batch: 7, ..options(&tiny(), 2) }, "fewer than one batch"),
    ];
    for (o, want) in cases {
        let e = Run::open(&dir.path().join("r"), o, examples(), &Device::Cpu).err().expect("refused").to_string();
        assert!(e.contains(want), "{e}");
    }
    let bad_target = FinetuneOptions {
        lora: LoraConfig { rank: 2, alpha: 2.0, targets: vec!["mlp".into()], from_layer: 0 },
        ..options(&tiny(), 2)
    };
    let e = Run::open(&dir.path().join("t"), bad_target, examples(), &Device::Cpu).err().expect("refused").to_string();
    assert!(e.contains("names no module"), "{e}");
}

#[test]
fn sae_training_recovers_a_known_sparse_dictionary() {
    // 48 random unit atoms in 24 dimensions; each sample is 3 atoms with weights in [1, 2] plus a little noise.
    let (d, atoms, n) = (24, 48, 12_000);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let dict: Vec<Vec<f32>> = (0..atoms)
        .map(|_| {
            let v: Vec<f32> = (0..d).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect();
    let mut data = vec![0f32; n * d];
    for s in 0..n {
        for _ in 0..3 {
            let a = rng.gen_range(0..atoms);
            let w = rng.gen_range(1.0f32..2.0);
            for j in 0..d {
                data[s * d + j] += w * dict[a][j];
            }
        }
        for j in 0..d {
            data[s * d + j] += rng.gen_range(-0.01f32..0.01);
        }
    }
    let x = Tensor::from_vec(data, (n, d), &Device::Cpu).unwrap();
    let opts = SaeOptions {
        width: 64,
        k: 3,
        k_aux: 16,
        aux_weight: 1.0 / 32.0,
        dead_tokens: 2_000,
        batch: 256,
        epochs: 12,
        lr: 3e-3,
        seed: 1,
    };
    let mut run = SaeRun::new(&x, opts, None).unwrap();
    run.train(1000, 1000, None, |_| {}).unwrap();
    let sae = run.result().unwrap();
    let q = sae.quality(&x).unwrap();
    assert!(q.fvu < 0.1, "FVU {}", q.fvu);
    assert!(q.l0 <= 3.0);
    let dec: Vec<Vec<f32>> = sae.w_dec.to_vec2().unwrap();
    let recovered = dict
        .iter()
        .filter(|atom| dec.iter().any(|row| row.iter().zip(atom.iter()).map(|(a, b)| a * b).sum::<f32>() > 0.9))
        .count();
    assert!(recovered as f64 >= 0.9 * atoms as f64, "recovered {recovered} of {atoms} atoms (FVU {})", q.fvu);
}

#[test]
fn a_trained_sae_exports_a_model_the_encoder_runs_identically() {
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> = TEXTS.iter().map(|t| t.to_string()).collect();
    let states = collect_states(&Device::Cpu, &tiny(), 2, &texts, 16, 10_000, |_| {}).unwrap();
    let opts = SaeOptions {
        width: 96,
        k: 4,
        k_aux: 8,
        aux_weight: 1.0 / 32.0,
        dead_tokens: 200,
        batch: 16,
        epochs: 3,
        lr: 1e-3,
        seed: 2,
    };
    let run_dir = dir.path().join("sae-run");
    let mut run = SaeRun::new(&states, opts.clone(), Some(&run_dir)).unwrap();
    run.train(10, 5, None, |_| {}).unwrap();
    let sae = run.result().unwrap();
    // Resuming a finished run changes nothing.
    let again = SaeRun::new(&states, opts, Some(&run_dir)).unwrap();
    assert_eq!(again.step, run.step);

    let out = dir.path().join("model");
    std::fs::create_dir_all(&out).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(tiny().join(f), out.join(f)).unwrap();
    }
    sae.save(&out.join("sae.safetensors")).unwrap();
    let cfg = sae_model_config(&read_splare_json(&tiny()).unwrap(), "tiny-sae", 2, 4, sae.average_norm, 4.0);
    write_config_and_card(&out, &cfg, "# tiny-sae\n").unwrap();
    let enc = Encoder::load(&out, &EncoderOptions { precision: Precision::F32, ..Default::default() }).unwrap();
    let rows: Vec<Vec<u32>> = TEXTS.iter().map(|t| enc.tokenize(t, TextKind::Document).unwrap()).collect();
    let trace = enc.trace_ids(&rows, None).unwrap();
    for (r, row) in rows.iter().enumerate() {
        let h: Vec<f32> = trace.hidden[r].iter().take(row.len()).flatten().copied().collect();
        let z: Vec<Vec<f32>> =
            sae.encode(&Tensor::from_vec(h, (row.len(), 32), &Device::Cpu).unwrap()).unwrap().to_vec2().unwrap();
        for (i, zi) in z.iter().enumerate() {
            for (j, &v) in zi.iter().enumerate() {
                let lib = trace.latents[r][i][j];
                assert!((lib - v).abs() < 1e-4, "text {r} token {i} latent {j}: encoder {lib} trainer {v}");
            }
        }
    }
}
