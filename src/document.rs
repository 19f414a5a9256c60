//! Documents: a sparse vector with optional text and JSON metadata, and their byte encoding.

use crate::codec::{ByteReader, ByteWriter, DecodeError};
use crate::error::{display_key, Error, Result};
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

/// A document checked and serialised once, on insert: the WAL logs it, the memtable keeps it, and a flush
/// copies it into the document store, all without serialising its metadata again.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PreparedDocument {
    /// The document.
    pub(crate) doc: Document,
    /// Its metadata as JSON text (what the encoding stores).
    metadata_json: Option<Box<str>>,
}

impl PreparedDocument {
    /// Checks the text and metadata sizes of `doc`, stored under `key`, and serialises its metadata.
    pub(crate) fn new(key: &[u8], doc: Document) -> Result<Self> {
        let too_large = |reason: String| Err(Error::DocumentTooLarge { key: display_key(key), reason });
        if let Some(text) = &doc.text {
            if text.len() > MAX_TEXT_LEN {
                return too_large(format!("text of {} bytes exceeds {MAX_TEXT_LEN}", text.len()));
            }
        }
        let metadata_json = doc.metadata.as_ref().map(|m| m.to_string().into_boxed_str());
        if let Some(json) = &metadata_json {
            if json.len() > MAX_METADATA_LEN {
                return too_large(format!("metadata of {} bytes exceeds {MAX_METADATA_LEN}", json.len()));
            }
        }
        Ok(PreparedDocument { doc, metadata_json })
    }

    /// Approximate memory it takes in the memtable with its key, used for the flush threshold.
    pub(crate) fn memory(&self, key: &[u8]) -> usize {
        64 + key.len()
            + self.doc.vector.nnz() * 16
            + self.doc.text.as_ref().map_or(0, |t| t.len())
            + self.metadata_json.as_ref().map_or(0, |m| m.len())
    }
}

/// Appends the document encoding (see format-spec.md, "Document encoding").
pub(crate) fn encode_document(w: &mut ByteWriter, prepared: &PreparedDocument) {
    let doc = &prepared.doc;
    let metadata_json = prepared.metadata_json.as_deref();
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
pub(crate) fn decode_document(r: &mut ByteReader<'_>) -> Result<PreparedDocument, DecodeError> {
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
    let (metadata, metadata_json) = if flags & HAS_METADATA != 0 {
        let bytes = r.len_bytes()?;
        let value =
            serde_json::from_slice(bytes).map_err(|e| DecodeError(format!("stored metadata is not JSON: {e}")))?;
        let json = std::str::from_utf8(bytes).map_err(|_| DecodeError("stored metadata is not UTF-8".into()))?;
        (Some(value), Some(json.into()))
    } else {
        (None, None)
    };
    Ok(PreparedDocument { doc: Document { vector, text, metadata }, metadata_json })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let doc = Document::new(SparseVector::new(vec![1, 5], vec![0.5, 2.0]).unwrap())
            .with_text("héllo")
            .with_metadata(serde_json::json!({"a": [1, 2]}));
        let prepared = PreparedDocument::new(b"k", doc.clone()).unwrap();
        let mut w = ByteWriter::new();
        encode_document(&mut w, &prepared);
        let bytes = w.into_inner();
        let back = decode_document(&mut ByteReader::new(&bytes)).unwrap();
        assert_eq!(back, prepared);
        assert_eq!(back.doc, doc);
        for cut in 0..bytes.len() {
            assert!(decode_document(&mut ByteReader::new(&bytes[..cut])).is_err());
        }
    }
}
