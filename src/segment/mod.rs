//! Immutable segments: block-compressed posting lists keyed by latent id, a zstd document store, a key index,
//! all in one file read through a memory map; plus per-segment deletion bitmaps in their own files.
//!
//! The byte layout is specified in format-spec.md, "Segment files" and "Deletion files". The writer
//! ([`write_segment_from`]) builds a file from documents sorted by key, so segment-local document ids follow key
//! order; the reader ([`Segment`]) validates checksums and structure on open and never panics on bad bytes.

mod approx;
mod cursor;
mod deletes;
mod docstore;
mod postings;
mod reader;
mod records;
mod sizes;
mod writer;

pub(crate) use approx::{encode_bitmap, has_bitmap, mean_code, Forward};
pub(crate) use cursor::PostingCursor;
pub(crate) use deletes::{read_deletes, write_deletes, DeleteSet};
pub(crate) use docstore::SequentialRecords;
pub(crate) use docstore::{decode_record, encode_record};
pub(crate) use reader::{RetainedFiles, Segment};
pub(crate) use records::{Footer, LatentEntry};
pub use sizes::SectionSizes;
pub(crate) use writer::{write_segment_from, ListSink, RecordSink, SegmentInput, VectorSink};

/// A vector's latent ids and impact codes under `quantizer`, zero codes left out (what the posting lists and
/// the forward section hold).
pub(crate) fn quantized(
    vector: &crate::vector::SparseVector,
    quantizer: &crate::vector::Quantizer,
) -> (Vec<u32>, Vec<u8>) {
    let (mut ids, mut codes) = (Vec::with_capacity(vector.nnz()), Vec::with_capacity(vector.nnz()));
    for (latent, weight) in vector.iter() {
        let code = quantizer.quantize(weight);
        if code > 0 {
            ids.push(latent);
            codes.push(code);
        }
    }
    (ids, codes)
}

/// Magic bytes at the start and end of a segment file.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"SPLRSEG\0";
/// Segment format version the writer writes (the reader also reads version 1, which has no approximate index).
pub(crate) const SEGMENT_VERSION: u32 = 2;
/// Header length.
pub(crate) const HEADER_LEN: usize = 16;
/// Number of sections of the current version.
pub(crate) const NUM_SECTIONS: usize = 9;
/// Number of sections of version 1 (no approx and forward sections).
pub(crate) const NUM_SECTIONS_V1: usize = 7;
/// Target uncompressed size of a document-store block.
pub(crate) const DOC_BLOCK_TARGET: usize = 16 * 1024;

/// Section indices, in file order.
pub(crate) mod section {
    pub(crate) const POSTINGS: usize = 0;
    pub(crate) const BLOCKS: usize = 1;
    pub(crate) const LATENTS: usize = 2;
    pub(crate) const DOCS: usize = 3;
    pub(crate) const DOC_INDEX: usize = 4;
    pub(crate) const KEYS: usize = 5;
    pub(crate) const FST: usize = 6;
    pub(crate) const APPROX: usize = 7;
    pub(crate) const FORWARD: usize = 8;
    pub(crate) const NAMES: [&str; super::NUM_SECTIONS] = super::SectionSizes::NAMES;
}
