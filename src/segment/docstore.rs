//! The document store: records `key + document` packed into blocks of about 16 KiB, each compressed with zstd.

use crate::codec::{ByteReader, ByteWriter, DecodeError};
use crate::document::{decode_document, encode_document, Document, PreparedDocument};

use super::records::DocBlock;
use super::DOC_BLOCK_TARGET;

/// zstd level used for document blocks.
const ZSTD_LEVEL: i32 = 3;
/// Largest uncompressed block accepted when reading: one document can be as large as a WAL record (1 GiB),
/// plus the ~16 KiB of records before it in its block.
pub(crate) const MAX_DOC_BLOCK: usize = 2 << 30;

/// Builds the document store: records are packed into blocks, and each full block is compressed and handed to
/// `emit` at once, so the store is streamed to the file; only the small index stays in memory.
pub(crate) struct DocStoreWriter {
    written: u64,
    index: ByteWriter,
    block: ByteWriter,
    block_first_doc: u32,
    next_doc: u32,
}

impl DocStoreWriter {
    pub(crate) fn new() -> Self {
        DocStoreWriter {
            written: 0,
            index: ByteWriter::new(),
            block: ByteWriter::new(),
            block_first_doc: 0,
            next_doc: 0,
        }
    }

    /// Adds the next document's record (`key` as length-prefixed bytes, then the document encoding); doc ids
    /// are assigned in call order.
    pub(crate) fn add_record(
        &mut self,
        record: &[u8],
        emit: &mut dyn FnMut(&[u8]) -> crate::Result<()>,
    ) -> crate::Result<()> {
        self.block.len_bytes(record);
        self.next_doc += 1;
        if self.block.len() >= DOC_BLOCK_TARGET {
            self.finish_block(emit)?;
        }
        Ok(())
    }

    fn finish_block(&mut self, emit: &mut dyn FnMut(&[u8]) -> crate::Result<()>) -> crate::Result<()> {
        if self.block.len() == 0 {
            return Ok(());
        }
        let raw = std::mem::take(&mut self.block).into_inner();
        let compressed =
            zstd::bulk::compress(&raw, ZSTD_LEVEL).map_err(|e| crate::Error::io("(document store)", "compress", e))?;
        DocBlock {
            first_doc: self.block_first_doc,
            compressed_len: compressed.len() as u32,
            raw_len: raw.len() as u32,
            offset: self.written,
        }
        .encode(&mut self.index);
        emit(&compressed)?;
        self.written += compressed.len() as u64;
        self.block_first_doc = self.next_doc;
        Ok(())
    }

    /// Emits the last block and returns the index section.
    pub(crate) fn finish(mut self, emit: &mut dyn FnMut(&[u8]) -> crate::Result<()>) -> crate::Result<Vec<u8>> {
        self.finish_block(emit)?;
        Ok(self.index.into_inner())
    }
}

/// Encodes a document-store record: the key, then the document.
pub(crate) fn encode_record(key: &[u8], doc: &PreparedDocument) -> Vec<u8> {
    let mut rec = ByteWriter::new();
    rec.len_bytes(key);
    encode_document(&mut rec, doc);
    rec.into_inner()
}

/// Decompresses the block holding `doc`: returns its index entry and raw bytes.
fn load_block(store: &[u8], index: &[u8], doc: u32) -> Result<(usize, DocBlock, Vec<u8>), DecodeError> {
    let n = index.len() / DocBlock::LEN;
    // The last block whose first doc is <= doc.
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if DocBlock::at(index, mid).first_doc <= doc {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if lo == 0 {
        return Err(DecodeError(format!("document {doc} is before the first block")));
    }
    let b = DocBlock::at(index, lo - 1);
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
    Ok((lo - 1, b, raw))
}

/// The record of `doc` inside a decompressed block that starts at `first_doc`.
fn record_in(raw: &[u8], first_doc: u32, doc: u32) -> Result<&[u8], DecodeError> {
    let mut r = ByteReader::new(raw);
    for _ in first_doc..doc {
        r.len_bytes()?;
    }
    r.len_bytes()
}

/// Decodes a record into its key and document.
pub(crate) fn decode_record(record: &[u8]) -> Result<(Vec<u8>, Document), DecodeError> {
    let mut rec = ByteReader::new(record);
    let key = rec.len_bytes()?.to_vec();
    let document = decode_document(&mut rec)?.doc;
    Ok((key, document))
}

/// Reads document `doc` from the store: finds its block, decompresses it, and walks to the record.
pub(crate) fn read_document(store: &[u8], index: &[u8], doc: u32) -> Result<(Vec<u8>, Document), DecodeError> {
    let (_, b, raw) = load_block(store, index, doc)?;
    decode_record(record_in(&raw, b.first_doc, doc)?)
}

/// Reads records in increasing doc order, decompressing each block once (for merges).
#[derive(Default)]
pub(crate) struct SequentialRecords {
    /// The loaded block: its index, the first doc of the next block, its raw bytes.
    block: Option<(usize, u32, Vec<u8>)>,
    /// Offset in the raw bytes of the record of doc `cursor.1`.
    cursor: (usize, u32),
}

impl SequentialRecords {
    /// The raw record of `doc`; calls must come in increasing doc order.
    pub(crate) fn record<'a>(&'a mut self, store: &[u8], index: &[u8], doc: u32) -> Result<&'a [u8], DecodeError> {
        let in_block = matches!(&self.block, Some((_, next_first, _)) if doc < *next_first && doc >= self.cursor.1);
        if !in_block {
            let (i, b, raw) = load_block(store, index, doc)?;
            let n = index.len() / DocBlock::LEN;
            let next_first = if i + 1 < n { DocBlock::at(index, i + 1).first_doc } else { u32::MAX };
            self.cursor = (0, b.first_doc);
            self.block = Some((i, next_first, raw));
        }
        let Some((_, _, raw)) = self.block.as_ref() else {
            return Err(DecodeError("no block loaded".into()));
        };
        let mut r = ByteReader::new(&raw[self.cursor.0..]);
        for _ in self.cursor.1..doc {
            r.len_bytes()?;
        }
        let start = self.cursor.0 + r.pos();
        let record = r.len_bytes()?;
        self.cursor = (start + 4 + record.len(), doc + 1);
        Ok(record)
    }
}
