//! The fixed-size records of a segment file, each with its one encoder and one decoder side by side: a latent
//! directory entry, a document-index entry, and the footer (block metadata entries live with their codec in
//! `postings.rs`). Field offsets follow from the field order (`codec::Fields`); each record's length is a
//! constant that a unit test checks against its encoder. Byte layouts: format-spec.md §3.

use crate::codec::{crc32, ByteWriter, Fields};

#[cfg(test)]
use super::SEGMENT_VERSION;
use super::{NUM_SECTIONS, NUM_SECTIONS_V1, SEGMENT_MAGIC};

/// One latent's entry in the latent directory (section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LatentEntry {
    pub(crate) latent: u32,
    pub(crate) doc_freq: u32,
    /// Index of the list's first entry in the block metadata.
    pub(crate) first_block: u32,
    pub(crate) num_blocks: u32,
    /// Largest impact code of the list.
    pub(crate) max_impact: u8,
}

impl LatentEntry {
    /// Encoded length: four `u32`, the max impact, three reserved bytes.
    pub(crate) const LEN: usize = 4 * 4 + 1 + 3;

    pub(crate) fn encode(&self, w: &mut ByteWriter) {
        w.u32(self.latent);
        w.u32(self.doc_freq);
        w.u32(self.first_block);
        w.u32(self.num_blocks);
        w.u8(self.max_impact);
        w.bytes(&[0; 3]);
    }

    /// Decodes one entry (`b` is [`LEN`](Self::LEN) bytes).
    pub(crate) fn decode(b: &[u8]) -> Self {
        let mut f = Fields::new(b);
        LatentEntry {
            latent: f.u32(),
            doc_freq: f.u32(),
            first_block: f.u32(),
            num_blocks: f.u32(),
            max_impact: f.u8(),
        }
    }

    /// Entry `i` of a directory section (bounds checked when the segment is opened).
    pub(crate) fn at(directory: &[u8], i: usize) -> Self {
        Self::decode(&directory[i * Self::LEN..(i + 1) * Self::LEN])
    }

    /// The latent of entry `i` alone (the first field), for the binary search of the directory.
    pub(crate) fn latent_at(directory: &[u8], i: usize) -> u32 {
        Fields::new(&directory[i * Self::LEN..i * Self::LEN + 4]).u32()
    }
}

/// One entry of the document index (section 4): where a compressed document-store block lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DocBlock {
    /// The first document of the block.
    pub(crate) first_doc: u32,
    pub(crate) compressed_len: u32,
    pub(crate) raw_len: u32,
    /// Offset of the compressed block within the document store.
    pub(crate) offset: u64,
}

impl DocBlock {
    /// Encoded length: three `u32` and a `u64`.
    pub(crate) const LEN: usize = 3 * 4 + 8;

    pub(crate) fn encode(&self, w: &mut ByteWriter) {
        w.u32(self.first_doc);
        w.u32(self.compressed_len);
        w.u32(self.raw_len);
        w.u64(self.offset);
    }

    /// Decodes one entry (`b` is [`LEN`](Self::LEN) bytes).
    pub(crate) fn decode(b: &[u8]) -> Self {
        let mut f = Fields::new(b);
        DocBlock { first_doc: f.u32(), compressed_len: f.u32(), raw_len: f.u32(), offset: f.u64() }
    }

    /// Entry `i` of an index section (bounds checked by the caller or at open).
    pub(crate) fn at(index: &[u8], i: usize) -> Self {
        Self::decode(&index[i * Self::LEN..(i + 1) * Self::LEN])
    }
}

/// Where one section lies and its checksum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SectionDesc {
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) crc: u32,
}

/// The footer: the section table and the segment's counts, checksummed, then the version and the magic. Version
/// 1 has [`NUM_SECTIONS_V1`] sections, version 2 [`NUM_SECTIONS`] (the approx and forward sections added).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Footer {
    /// Format version: 1 or 2 (what the writer writes, [`SEGMENT_VERSION`]).
    pub(crate) version: u32,
    /// One descriptor per section of the version, in file order.
    pub(crate) sections: Vec<SectionDesc>,
    pub(crate) id: u64,
    pub(crate) num_docs: u32,
    pub(crate) num_latents: u32,
    pub(crate) num_postings: u64,
    pub(crate) dims: u32,
    pub(crate) max_weight: f32,
}

impl Footer {
    /// Length of one section descriptor.
    pub(crate) const SECTION_LEN: usize = 8 + 8 + 4;
    /// Bytes after the section table: counts (id, documents, latents, postings, dims, max weight), CRC, version,
    /// magic.
    const TAIL_LEN: usize = 8 + 4 + 4 + 8 + 4 + 4 + 4 + 4 + SEGMENT_MAGIC.len();

    /// Number of sections of format `version`, or `None` for a version this build does not read.
    pub(crate) fn sections_of(version: u32) -> Option<usize> {
        match version {
            1 => Some(NUM_SECTIONS_V1),
            2 => Some(NUM_SECTIONS),
            _ => None,
        }
    }

    /// Encoded length of a footer with `sections` sections.
    pub(crate) fn len(sections: usize) -> usize {
        sections * Self::SECTION_LEN + Self::TAIL_LEN
    }

    /// Offset of the segment id, right after the section table.
    pub(crate) fn id_offset(sections: usize) -> usize {
        sections * Self::SECTION_LEN
    }

    /// Offset of the CRC, right after the counts.
    pub(crate) fn crc_offset(sections: usize) -> usize {
        Self::id_offset(sections) + 8 + 4 + 4 + 8 + 4 + 4
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = ByteWriter::new();
        for s in &self.sections {
            w.u64(s.offset);
            w.u64(s.len);
            w.u32(s.crc);
        }
        w.u64(self.id);
        w.u32(self.num_docs);
        w.u32(self.num_latents);
        w.u64(self.num_postings);
        w.u32(self.dims);
        w.f32(self.max_weight);
        let crc = crc32(&w.buf);
        w.u32(crc);
        w.u32(self.version);
        w.bytes(SEGMENT_MAGIC);
        w.into_inner()
    }

    /// Decodes a footer of format `version` from `b` (exactly [`len`](Self::len) bytes), checking its CRC (the
    /// version and magic are checked by the caller, which reports them separately).
    pub(crate) fn decode(b: &[u8], version: u32) -> Result<Footer, String> {
        let count = Self::sections_of(version).ok_or_else(|| format!("no footer layout for version {version}"))?;
        if b.len() != Self::len(count) {
            return Err(format!("footer of {} bytes, expected {}", b.len(), Self::len(count)));
        }
        let mut f = Fields::new(b);
        let sections = (0..count).map(|_| SectionDesc { offset: f.u64(), len: f.u64(), crc: f.u32() }).collect();
        let footer = Footer {
            version,
            sections,
            id: f.u64(),
            num_docs: f.u32(),
            num_latents: f.u32(),
            num_postings: f.u64(),
            dims: f.u32(),
            max_weight: f.f32(),
        };
        debug_assert_eq!(f.pos(), Self::crc_offset(count));
        if crc32(&b[..Self::crc_offset(count)]) != f.u32() {
            return Err("footer checksum mismatch".into());
        }
        Ok(footer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_the_encoders_and_records_round_trip() {
        let e = LatentEntry { latent: 7, doc_freq: 300, first_block: 9, num_blocks: 3, max_impact: 200 };
        let mut w = ByteWriter::new();
        e.encode(&mut w);
        assert_eq!(w.len(), LatentEntry::LEN);
        assert_eq!(LatentEntry::decode(&w.buf), e);

        let d = DocBlock { first_doc: 5, compressed_len: 100, raw_len: 300, offset: 1 << 40 };
        let mut w = ByteWriter::new();
        d.encode(&mut w);
        assert_eq!(w.len(), DocBlock::LEN);
        assert_eq!(DocBlock::decode(&w.buf), d);

        for version in [1, SEGMENT_VERSION] {
            let count = Footer::sections_of(version).unwrap();
            let sections =
                (0..count).map(|i| SectionDesc { offset: 16 + i as u64, len: i as u64, crc: 3 * i as u32 }).collect();
            let footer = Footer {
                version,
                sections,
                id: 42,
                num_docs: 3,
                num_latents: 4,
                num_postings: 5,
                dims: 6,
                max_weight: 8.0,
            };
            let bytes = footer.encode();
            assert_eq!(bytes.len(), Footer::len(count));
            assert_eq!(Footer::decode(&bytes, version).unwrap(), footer);
            let id = Footer::id_offset(count);
            assert_eq!(u64::from_le_bytes(bytes[id..id + 8].try_into().unwrap()), 42);
            for i in 0..Footer::crc_offset(count) + 4 {
                let mut bad = bytes.clone();
                bad[i] ^= 1;
                assert!(Footer::decode(&bad, version).is_err(), "flip at {i}");
            }
        }
    }
}
