//! Immutable segments: block-compressed posting lists keyed by latent id, a zstd document store, a key index,
//! all in one file read through a memory map; plus per-segment deletion bitmaps in their own files.
//!
//! The byte layout is specified in format-spec.md, "Segment files" and "Deletion files". The writer
//! ([`write_segment_from`]) builds a file from documents sorted by key, so segment-local document ids follow key
//! order; the reader ([`Segment`]) validates checksums and structure on open and never panics on bad bytes.

mod deletes;
mod docstore;
mod postings;
mod reader;
mod sizes;
mod writer;

pub(crate) use deletes::{read_deletes, write_deletes, DeleteSet};
pub(crate) use docstore::encode_record;
pub(crate) use docstore::SequentialRecords;
pub(crate) use postings::BLOCK_LEN;
pub(crate) use reader::{LatentEntry, RetainedFiles, Segment};
pub use sizes::SectionSizes;
pub(crate) use writer::{write_segment_from, ListSink, RecordSink, SegmentInput};

/// Magic bytes at the start and end of a segment file.
pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"SPLRSEG\0";
/// Segment format version.
pub(crate) const SEGMENT_VERSION: u32 = 1;
/// Header length.
pub(crate) const HEADER_LEN: usize = 16;
/// Number of sections.
pub(crate) const NUM_SECTIONS: usize = 7;
/// Footer length: 7 section descriptors of 20 bytes, 32 bytes of counts, CRC, version and magic.
pub(crate) const FOOTER_LEN: usize = NUM_SECTIONS * 20 + 32 + 4 + 4 + 8;
/// Size of a latent directory entry.
pub(crate) const LATENT_ENTRY_LEN: usize = 20;
/// Size of a block metadata entry.
pub(crate) const BLOCK_ENTRY_LEN: usize = 20;
/// Size of a document-store index entry.
pub(crate) const DOC_INDEX_ENTRY_LEN: usize = 20;
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
    pub(crate) const NAMES: [&str; super::NUM_SECTIONS] =
        ["postings", "block metadata", "latent directory", "document store", "document index", "keys", "key index"];
}
