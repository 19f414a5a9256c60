//! Tokenization: prefixes, truncation to the model's maximum length, padding into a batch, and the mask of
//! the tokens that are pooled.

use std::collections::HashSet;
use std::path::Path;

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::config::PoolTokens;
use super::error::{EncoderError, EncoderResult};

/// Token ids of several texts, right-padded to a common length.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// `[batch, len]` ids, row-major.
    pub ids: Vec<u32>,
    /// `[batch, len]`: true for real tokens, false for padding.
    pub mask: Vec<bool>,
    /// `[batch, len]`: true for the tokens the max-pooling runs over.
    pub pool: Vec<bool>,
    /// Number of rows.
    pub batch: usize,
    /// Padded length.
    pub len: usize,
}

impl TokenBatch {
    /// Builds a batch from id rows, marking `special` ids as not pooled when `tokens` is `Content`.
    pub fn from_rows(rows: &[Vec<u32>], pad_id: u32, special: &HashSet<u32>, tokens: PoolTokens) -> TokenBatch {
        let len = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut b = TokenBatch { ids: vec![], mask: vec![], pool: vec![], batch: rows.len(), len };
        for row in rows {
            for i in 0..len {
                match row.get(i) {
                    Some(&id) => {
                        b.ids.push(id);
                        b.mask.push(true);
                        b.pool.push(tokens == PoolTokens::All || !special.contains(&id));
                    }
                    None => {
                        b.ids.push(pad_id);
                        b.mask.push(false);
                        b.pool.push(false);
                    }
                }
            }
        }
        b
    }
}

/// Bytes of text handed to the tokenizer per allowed token: longer texts are cut first (at a character
/// boundary) so a huge document costs bounded work; far more than any real token needs.
const BYTES_PER_TOKEN_BOUND: usize = 256;

/// The id of the tokenizer model's unknown token (`unk_id` of Unigram, `unk_token` of WordPiece/BPE/WordLevel).
fn unknown_token_id(tok: &Tokenizer, path: &Path) -> Option<u32> {
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let model = json.get("model")?;
    if let Some(id) = model.get("unk_id").and_then(serde_json::Value::as_u64) {
        return Some(id as u32);
    }
    tok.token_to_id(model.get("unk_token")?.as_str()?)
}

/// A Hugging Face tokenizer set up for encoding.
pub(crate) struct TextTokenizer {
    inner: Tokenizer,
    pub(crate) special: HashSet<u32>,
    max_length: usize,
}

impl TextTokenizer {
    pub(crate) fn load(dir: &Path, max_length: usize) -> EncoderResult<TextTokenizer> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(EncoderError::MissingFile {
                dir: dir.to_path_buf(),
                file: "tokenizer.json".into(),
                why: "the Hugging Face tokenizer".into(),
            });
        }
        let mut inner = Tokenizer::from_file(&path)
            .map_err(|e| EncoderError::invalid(&path, format!("unreadable tokenizer: {e}")))?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| EncoderError::invalid(&path, e.to_string()))?;
        inner.with_padding(None);
        // Special tokens are not pooled under `tokens: content`, except the unknown token: an unknown word
        // is content.
        let unk = unknown_token_id(&inner, &path);
        let special = inner
            .get_added_tokens_decoder()
            .iter()
            .filter(|(&id, t)| t.special && Some(id) != unk)
            .map(|(&id, _)| id)
            .collect();
        Ok(TextTokenizer { inner, special, max_length })
    }

    /// The text of token `id` (as the vocabulary spells it, e.g. `▁cat` or `##s`).
    pub(crate) fn token_text(&self, id: u32) -> String {
        self.inner.id_to_token(id).unwrap_or_else(|| format!("<{id}>"))
    }

    /// The largest token id the tokenizer can produce.
    pub(crate) fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Token ids of `prefix + text`, truncated to the maximum length (special tokens included).
    pub(crate) fn encode(&self, prefix: &str, text: &str) -> EncoderResult<Vec<u32>> {
        let bound = self.max_length.saturating_mul(BYTES_PER_TOKEN_BOUND);
        let mut cut = text.len().min(bound);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let input = format!("{prefix}{}", &text[..cut]);
        let enc = self.inner.encode(input, true).map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }
}
