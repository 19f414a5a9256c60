//! Token dumps: a corpus tokenized exactly as the library's encoder does it (prefix, truncation, pooling
//! mask), written as flat little-endian arrays, so that the backbone and the SAE can run somewhere else (a GPU
//! machine with PyTorch, `tools/topk-bench/gpu/`) on the very tokens splaredb would run.
//!
//! Files written in the output directory:
//! - `ids.u32`: the token ids of every document, concatenated (`u32`);
//! - `lengths.u32`: tokens per document (`u32`), in corpus order;
//! - `pool.u8`: one byte per token, 1 where the max-pooling runs over the token (the encoder's pooling mask);
//! - `keys.txt`: the document ids, one per line, in the same order;
//! - `meta.json`: the model's name, `splare.json` and the counts;
//! - `reference.docs` (with `reference > 0`): the first `reference` documents encoded by the library's encoder
//!   (a vector file), to check an outside encoding against.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use splaredb::encoder::{Encoder, TextKind};
use splaredb_eval_core::BeirDataset;

use crate::Vectors;

/// Documents tokenized per call of the encoder's tokenizer.
const CHUNK: usize = 256;

/// Tokenizes every document of `dataset`'s corpus with `encoder` and writes the files listed in the module
/// documentation to `out` (`model_dir` is the encoder's model directory). Returns (documents, tokens).
pub fn dump(
    encoder: &Encoder,
    model_dir: &Path,
    dataset: &Path,
    out: &Path,
    reference: usize,
) -> Result<(usize, usize)> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // The whole corpus, no split: queries and judgements are not read.
    let data = BeirDataset {
        dir: dataset.to_path_buf(),
        split: String::new(),
        fraction: 1.0,
        queries: Default::default(),
        qrels: Default::default(),
    };
    let corpus = data.corpus()?;
    let create = |name: &str| -> Result<BufWriter<std::fs::File>> {
        let path = out.join(name);
        Ok(BufWriter::new(std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?))
    };
    let (mut ids, mut lengths, mut pool, mut keys) =
        (create("ids.u32")?, create("lengths.u32")?, create("pool.u8")?, create("keys.txt")?);
    let mut tokens = 0usize;
    for (c, chunk) in corpus.chunks(CHUNK).enumerate() {
        let texts: Vec<&str> = chunk.iter().map(|d| d.text.as_str()).collect();
        let batch = encoder.token_batch(&texts, TextKind::Document)?;
        for (r, doc) in chunk.iter().enumerate() {
            let row = r * batch.len..(r + 1) * batch.len;
            let n = batch.mask[row.clone()].iter().filter(|&&m| m).count();
            // Rows are left-aligned: the real tokens come first, padding after.
            for i in row.start..row.start + n {
                ids.write_all(&batch.ids[i].to_le_bytes())?;
                pool.write_all(&[u8::from(batch.pool[i])])?;
            }
            lengths.write_all(&(n as u32).to_le_bytes())?;
            writeln!(keys, "{}", doc.id)?;
            tokens += n;
        }
        if (c + 1) % 40 == 0 {
            eprintln!("  {} / {} documents tokenized", (c + 1) * CHUNK, corpus.len());
        }
    }
    for mut w in [ids, lengths, keys] {
        w.flush()?;
    }
    pool.flush()?;
    let splare_json = model_dir.join("splare.json");
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&splare_json).with_context(|| format!("reading {}", splare_json.display()))?,
    )?;
    let meta = serde_json::json!({
        "model": encoder.config().name,
        "dims": encoder.dims()?,
        "documents": corpus.len(),
        "tokens": tokens,
        "splare": config,
    });
    std::fs::write(out.join("meta.json"), serde_json::to_vec_pretty(&meta)?)?;
    if reference > 0 {
        let mut v = Vectors::new(encoder.dims()?);
        for chunk in corpus[..reference.min(corpus.len())].chunks(32) {
            let texts: Vec<&str> = chunk.iter().map(|d| d.text.as_str()).collect();
            for vector in encoder.encode_batch(&texts, TextKind::Document)? {
                v.push(vector.ids(), vector.weights())?;
            }
        }
        v.save(&out.join("reference.docs"))?;
    }
    Ok((corpus.len(), tokens))
}
