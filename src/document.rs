//! Documents: a sparse vector with optional text and JSON metadata, and their byte encoding.

use crate::codec::{ByteReader, ByteWriter, DecodeError};
use crate::vector::SparseVector;

/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 4096;
/// Longest text accepted, in bytes (64 MiB).
pub const MAX_TEXT_LEN: usize = 64 << 20;
/// Longest serialized metadata accepted, in bytes (16 MiB).
pub const MAX_METADATA_LEN: usize = 16 << 20;

/// A document as the application gives it and gets it back.
///
/// The vector is required (until the encoder computes it from the text); text and metadata are stored in the
/// compressed document store and returned by `get` and by searches that ask for documents.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document's sparse vector over SAE latents (stored at full `f32` precision).
    pub vector: SparseVector,
    /// Optional text.
    pub text: Option<String>,
    /// Optional JSON metadata.
    pub metadata: Option<serde_json::Value>,
}

impl Document {
    /// A document with a vector and no text or metadata.
    pub fn new(vector: SparseVector) -> Self {
        Document { vector, text: None, metadata: None }
    }

    /// Sets the text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Sets the JSON metadata.
    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

const HAS_TEXT: u8 = 1;
const HAS_METADATA: u8 = 2;

/// Appends the document encoding (see format-spec.md, "Document encoding").
pub(crate) fn encode_document(w: &mut ByteWriter, doc: &Document) {
    let metadata_json = doc.metadata.as_ref().map(|m| m.to_string());
    let metadata_json = metadata_json.as_deref();
    let v = &doc.vector;
    w.u32(v.nnz() as u32);
    for &id in v.ids() {
        w.u32(id);
    }
    for &x in v.weights() {
        w.f32(x);
    }
    let flags = if doc.text.is_some() { HAS_TEXT } else { 0 } | if metadata_json.is_some() { HAS_METADATA } else { 0 };
    w.u8(flags);
    if let Some(text) = &doc.text {
        w.len_bytes(text.as_bytes());
    }
    if let Some(meta) = metadata_json {
        w.len_bytes(meta.as_bytes());
    }
}

/// Decodes one document encoding, validating the vector, the UTF-8 text and the JSON metadata.
pub(crate) fn decode_document(r: &mut ByteReader<'_>) -> Result<Document, DecodeError> {
    let nnz = r.u32()? as usize;
    if nnz.saturating_mul(8) > r.remaining() {
        return Err(DecodeError(format!("vector of {nnz} entries is longer than the record")));
    }
    let mut ids = Vec::with_capacity(nnz);
    for _ in 0..nnz {
        ids.push(r.u32()?);
    }
    let mut weights = Vec::with_capacity(nnz);
    for _ in 0..nnz {
        weights.push(r.f32()?);
    }
    let vector = SparseVector::new(ids, weights).map_err(|e| DecodeError(format!("stored vector is invalid: {e}")))?;
    let flags = r.u8()?;
    if flags & !(HAS_TEXT | HAS_METADATA) != 0 {
        return Err(DecodeError(format!("unknown document flags {flags:#x}")));
    }
    let text = if flags & HAS_TEXT != 0 {
        let bytes = r.len_bytes()?;
        Some(String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError("stored text is not UTF-8".into()))?)
    } else {
        None
    };
    let metadata = if flags & HAS_METADATA != 0 {
        let bytes = r.len_bytes()?;
        Some(serde_json::from_slice(bytes).map_err(|e| DecodeError(format!("stored metadata is not JSON: {e}")))?)
    } else {
        None
    };
    Ok(Document { vector, text, metadata })
}

/// Approximate memory a document takes in the memtable, used for the flush threshold.
pub(crate) fn approx_size(key: &[u8], doc: &Document, metadata_len: usize) -> usize {
    64 + key.len() + doc.vector.nnz() * 16 + doc.text.as_ref().map_or(0, |t| t.len()) + metadata_len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let doc = Document::new(SparseVector::new(vec![1, 5], vec![0.5, 2.0]).unwrap())
            .with_text("héllo")
            .with_metadata(serde_json::json!({"a": [1, 2]}));
        let mut w = ByteWriter::new();
        encode_document(&mut w, &doc);
        let bytes = w.into_inner();
        let back = decode_document(&mut ByteReader::new(&bytes)).unwrap();
        assert_eq!(back, doc);
        for cut in 0..bytes.len() {
            assert!(decode_document(&mut ByteReader::new(&bytes[..cut])).is_err());
        }
    }
}
