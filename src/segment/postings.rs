//! The posting block codec: 128 postings per block, doc ids as bitpacked deltas (BitPacker4x), impacts as
//! one byte each. It knows nothing of segments or latents.

use bitpacking::{BitPacker, BitPacker4x};

use crate::codec::{read_u32, read_u64};

/// Postings per block (BitPacker4x's block size).
pub(crate) const BLOCK_LEN: usize = BitPacker4x::BLOCK_LEN;

/// The metadata of one block, as stored in the block-metadata section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockMeta {
    /// The value deltas are taken from: the previous block's last doc id, or 0 for a list's first block.
    pub(crate) base: u32,
    /// The last doc id in the block.
    pub(crate) last_doc: u32,
    /// Byte offset of the block's data within the postings section.
    pub(crate) offset: u64,
    /// Bit width of the packed deltas.
    pub(crate) num_bits: u8,
    /// Number of postings (1..=128).
    pub(crate) len: u8,
    /// Largest impact code in the block.
    pub(crate) max_impact: u8,
}

impl BlockMeta {
    /// Bytes of packed doc ids followed by impacts.
    pub(crate) fn data_len(&self) -> usize {
        self.num_bits as usize * BLOCK_LEN / 8 + self.len as usize
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.base.to_le_bytes());
        out.extend_from_slice(&self.last_doc.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&[self.num_bits, self.len, self.max_impact, 0]);
    }

    pub(crate) fn decode(b: &[u8]) -> BlockMeta {
        BlockMeta {
            base: read_u32(b, 0),
            last_doc: read_u32(b, 4),
            offset: read_u64(b, 8),
            num_bits: b[16],
            len: b[17],
            max_impact: b[18],
        }
    }
}

/// Encodes one posting list (strictly increasing docs, one impact each) into `data`, returning block metadata.
pub(crate) fn encode_postings(docs: &[u32], impacts: &[u8], data: &mut Vec<u8>) -> Vec<BlockMeta> {
    debug_assert_eq!(docs.len(), impacts.len());
    let packer = BitPacker4x::new();
    let mut metas = Vec::with_capacity(docs.len().div_ceil(BLOCK_LEN));
    let mut base = 0u32;
    let mut buf = [0u32; BLOCK_LEN];
    let mut packed = [0u8; 4 * BLOCK_LEN];
    for (chunk_docs, chunk_impacts) in docs.chunks(BLOCK_LEN).zip(impacts.chunks(BLOCK_LEN)) {
        let len = chunk_docs.len();
        buf[..len].copy_from_slice(chunk_docs);
        let last = chunk_docs[len - 1];
        buf[len..].fill(last);
        let num_bits = packer.num_bits_sorted(base, &buf);
        let n = packer.compress_sorted(base, &buf, &mut packed, num_bits);
        let offset = data.len() as u64;
        data.extend_from_slice(&packed[..n]);
        data.extend_from_slice(chunk_impacts);
        metas.push(BlockMeta {
            base,
            last_doc: last,
            offset,
            num_bits,
            len: len as u8,
            max_impact: chunk_impacts.iter().copied().max().unwrap_or(0),
        });
        base = last;
    }
    metas
}

/// Decodes a block's doc ids into `docs` and returns its impacts. `data` is the block's bytes
/// (`meta.data_len()` long; the reader checks bounds when it opens the segment).
pub(crate) fn decode_block<'a>(meta: &BlockMeta, data: &'a [u8], docs: &mut [u32; BLOCK_LEN]) -> &'a [u8] {
    let packed_len = meta.num_bits as usize * BLOCK_LEN / 8;
    BitPacker4x::new().decompress_sorted(meta.base, &data[..packed_len], docs, meta.num_bits);
    &data[packed_len..packed_len + meta.len as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_lists() {
        for n in [1usize, 2, 127, 128, 129, 300, 1000] {
            let docs: Vec<u32> = (0..n as u32).map(|i| i * 3 + (i % 7)).collect();
            let impacts: Vec<u8> = (0..n).map(|i| (i * 31 % 256) as u8).collect();
            let mut data = Vec::new();
            let metas = encode_postings(&docs, &impacts, &mut data);
            assert_eq!(metas.len(), n.div_ceil(BLOCK_LEN));
            let mut out_docs = Vec::new();
            let mut out_impacts = Vec::new();
            let mut buf = [0u32; BLOCK_LEN];
            for m in &metas {
                let start = m.offset as usize;
                let imp = decode_block(m, &data[start..start + m.data_len()], &mut buf);
                out_docs.extend_from_slice(&buf[..m.len as usize]);
                out_impacts.extend_from_slice(imp);
                assert_eq!(m.max_impact, *imp.iter().max().unwrap());
                assert_eq!(m.last_doc, buf[m.len as usize - 1]);
                let mut enc = Vec::new();
                m.encode(&mut enc);
                assert_eq!(BlockMeta::decode(&enc), *m);
            }
            assert_eq!(out_docs, docs);
            assert_eq!(out_impacts, impacts);
        }
    }
}
