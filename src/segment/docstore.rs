//! The document store: records `key + document` packed into blocks of about 16 KiB, each compressed with zstd.

use crate::codec::{read_u32, read_u64, ByteReader, ByteWriter, DecodeError};
use crate::document::{decode_document, encode_document, Document};

use super::{DOC_BLOCK_TARGET, DOC_INDEX_ENTRY_LEN};

/// zstd level used for document blocks.
const ZSTD_LEVEL: i32 = 3;
/// Largest uncompressed block accepted when reading: one document can be as large as a WAL record (1 GiB),
/// plus the ~16 KiB of records before it in its block.
pub(crate) const MAX_DOC_BLOCK: usize = 2 << 30;

/// Builds the document store and its index.
pub(crate) struct DocStoreWriter {
    data: Vec<u8>,
    index: Vec<u8>,
    block: ByteWriter,
    block_first_doc: u32,
    next_doc: u32,
}

impl DocStoreWriter {
    pub(crate) fn new() -> Self {
        DocStoreWriter {
            data: Vec::new(),
            index: Vec::new(),
            block: ByteWriter::new(),
            block_first_doc: 0,
            next_doc: 0,
        }
    }

    /// Adds the next document (doc ids are assigned in call order).
    pub(crate) fn add(&mut self, key: &[u8], doc: &Document) -> std::io::Result<()> {
        let mut rec = ByteWriter::new();
        rec.len_bytes(key);
        encode_document(&mut rec, doc);
        self.block.len_bytes(&rec.buf);
        self.next_doc += 1;
        if self.block.len() >= DOC_BLOCK_TARGET {
            self.finish_block()?;
        }
        Ok(())
    }

    fn finish_block(&mut self) -> std::io::Result<()> {
        if self.block.len() == 0 {
            return Ok(());
        }
        let raw = std::mem::take(&mut self.block).into_inner();
        let compressed = zstd::bulk::compress(&raw, ZSTD_LEVEL)?;
        self.index.extend_from_slice(&self.block_first_doc.to_le_bytes());
        self.index.extend_from_slice(&(compressed.len() as u32).to_le_bytes());
        self.index.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        self.index.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
        self.data.extend_from_slice(&compressed);
        self.block_first_doc = self.next_doc;
        Ok(())
    }

    /// Returns `(store, index)` sections.
    pub(crate) fn finish(mut self) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
        self.finish_block()?;
        Ok((self.data, self.index))
    }
}

/// One entry of the document index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DocBlock {
    pub(crate) first_doc: u32,
    pub(crate) compressed_len: u32,
    pub(crate) raw_len: u32,
    pub(crate) offset: u64,
}

pub(crate) fn doc_block(index: &[u8], i: usize) -> DocBlock {
    let e = &index[i * DOC_INDEX_ENTRY_LEN..(i + 1) * DOC_INDEX_ENTRY_LEN];
    DocBlock {
        first_doc: read_u32(e, 0),
        compressed_len: read_u32(e, 4),
        raw_len: read_u32(e, 8),
        offset: read_u64(e, 12),
    }
}

/// Reads document `doc` from the store: finds its block, decompresses it, and walks to the record.
pub(crate) fn read_document(store: &[u8], index: &[u8], doc: u32) -> Result<(Vec<u8>, Document), DecodeError> {
    let n = index.len() / DOC_INDEX_ENTRY_LEN;
    // The last block whose first doc is <= doc.
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if doc_block(index, mid).first_doc <= doc {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if lo == 0 {
        return Err(DecodeError(format!("document {doc} is before the first block")));
    }
    let b = doc_block(index, lo - 1);
    let start = b.offset as usize;
    let compressed = store
        .get(start..start + b.compressed_len as usize)
        .ok_or_else(|| DecodeError(format!("block of document {doc} lies outside the store")))?;
    // Stream the frame rather than pre-allocating `raw_len` bytes: the buffer grows only with real output,
    // so a damaged length field cannot cause a huge allocation.
    let limit = (b.raw_len as usize).min(MAX_DOC_BLOCK);
    let mut raw = Vec::new();
    let decoder = zstd::stream::read::Decoder::new(compressed)
        .map_err(|e| DecodeError(format!("block of document {doc} does not decompress: {e}")))?;
    std::io::Read::read_to_end(&mut std::io::Read::take(decoder, limit as u64 + 1), &mut raw)
        .map_err(|e| DecodeError(format!("block of document {doc} does not decompress: {e}")))?;
    if raw.len() != b.raw_len as usize {
        return Err(DecodeError(format!(
            "block of document {doc} decompresses to {} bytes, its index says {}",
            raw.len(),
            b.raw_len
        )));
    }
    let mut r = ByteReader::new(&raw);
    for _ in b.first_doc..doc {
        r.len_bytes()?;
    }
    let mut rec = ByteReader::new(r.len_bytes()?);
    let key = rec.len_bytes()?.to_vec();
    let document = decode_document(&mut rec)?;
    Ok((key, document))
}
