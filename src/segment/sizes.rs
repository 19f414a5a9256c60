//! The sizes of a segment's sections, typed: what `Database::segments` reports and the tools sum.

/// Bytes of each section of a segment file (format-spec.md §3), in file order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SectionSizes {
    /// Block-compressed posting lists (doc-id deltas and impacts).
    pub postings: u64,
    /// One 20-byte entry per posting block (base, last doc, offset, bit width, length, max impact).
    pub block_metadata: u64,
    /// One 20-byte entry per latent present in the segment.
    pub latent_directory: u64,
    /// zstd-compressed document records (key, vector, text, metadata).
    pub document_store: u64,
    /// One 20-byte entry per document-store block.
    pub document_index: u64,
    /// The key table (offsets and bytes).
    pub keys: u64,
    /// The fst map from key to document id.
    pub key_index: u64,
    /// The approximate index: mean impacts and membership bitmaps of the frequent latents (0 in a version-1
    /// segment).
    pub approx: u64,
    /// The forward vectors (latent ids and impact codes per document) approximate search re-ranks with.
    pub forward: u64,
}

impl SectionSizes {
    /// The names format-spec.md gives the sections, in file order.
    pub const NAMES: [&'static str; 9] = [
        "postings",
        "block metadata",
        "latent directory",
        "document store",
        "document index",
        "keys",
        "key index",
        "approx",
        "forward",
    ];

    /// The sizes in file order, as [`NAMES`](Self::NAMES) names them.
    pub fn to_array(&self) -> [u64; 9] {
        [
            self.postings,
            self.block_metadata,
            self.latent_directory,
            self.document_store,
            self.document_index,
            self.keys,
            self.key_index,
            self.approx,
            self.forward,
        ]
    }

    /// `(name, bytes)` pairs in file order.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, u64)> {
        Self::NAMES.into_iter().zip(self.to_array())
    }

    /// The inverted index: postings, block metadata and the latent directory (what search reads).
    pub fn inverted_index(&self) -> u64 {
        self.postings + self.block_metadata + self.latent_directory
    }

    /// What approximate search reads besides the inverted index: the approx section and the forward vectors.
    pub fn approximate_index(&self) -> u64 {
        self.approx + self.forward
    }

    /// The document side: the document store and its index, the keys and the key index.
    pub fn documents(&self) -> u64 {
        self.document_store + self.document_index + self.keys + self.key_index
    }
}

impl std::ops::AddAssign for SectionSizes {
    fn add_assign(&mut self, other: SectionSizes) {
        self.postings += other.postings;
        self.block_metadata += other.block_metadata;
        self.latent_directory += other.latent_directory;
        self.document_store += other.document_store;
        self.document_index += other.document_index;
        self.keys += other.keys;
        self.key_index += other.key_index;
        self.approx += other.approx;
        self.forward += other.forward;
    }
}
