//! The posting block codec: 128 postings per block, doc ids as bitpacked deltas, impacts as one byte each.
//! Full blocks use BitPacker4x (SIMD); a list's last, partial block packs exactly its `len` deltas with a
//! scalar LSB-first bit packer, so short lists (most latents of a small segment) cost bytes, not 16 per bit.
//! It knows nothing of segments or latents.

use bitpacking::{BitPacker, BitPacker4x};

use crate::codec::{ByteWriter, Fields};

/// Postings per block (BitPacker4x's block size).
pub(crate) const BLOCK_LEN: usize = BitPacker4x::BLOCK_LEN;

/// The metadata of one block, as stored in the block-metadata section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
    /// Encoded length: base, last doc, offset, bit width, length, max impact, one reserved byte.
    pub(crate) const LEN: usize = 4 + 4 + 8 + 1 + 1 + 1 + 1;

    /// Bytes of packed doc ids followed by impacts.
    pub(crate) fn data_len(&self) -> usize {
        packed_len(self.num_bits, self.len as usize) + self.len as usize
    }

    pub(crate) fn encode(&self, w: &mut ByteWriter) {
        w.u32(self.base);
        w.u32(self.last_doc);
        w.u64(self.offset);
        w.bytes(&[self.num_bits, self.len, self.max_impact, 0]);
    }

    /// Decodes one entry (`b` is [`LEN`](Self::LEN) bytes).
    pub(crate) fn decode(b: &[u8]) -> BlockMeta {
        let mut f = Fields::new(b);
        BlockMeta {
            base: f.u32(),
            last_doc: f.u32(),
            offset: f.u64(),
            num_bits: f.u8(),
            len: f.u8(),
            max_impact: f.u8(),
        }
    }
}

/// Bytes of `len` packed deltas of `num_bits` bits.
fn packed_len(num_bits: u8, len: usize) -> usize {
    if len == BLOCK_LEN {
        num_bits as usize * BLOCK_LEN / 8
    } else {
        (num_bits as usize * len).div_ceil(8)
    }
}

/// Packs `deltas` LSB-first, `num_bits` each, into `out`.
fn pack_scalar(deltas: &[u32], num_bits: u8, out: &mut Vec<u8>) {
    let (mut acc, mut filled) = (0u64, 0u32);
    for &d in deltas {
        acc |= (d as u64) << filled;
        filled += num_bits as u32;
        while filled >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            filled -= 8;
        }
    }
    if filled > 0 {
        out.push(acc as u8);
    }
}

/// Unpacks `out.len()` values of `num_bits` bits packed by [`pack_scalar`].
fn unpack_scalar(data: &[u8], num_bits: u8, out: &mut [u32]) {
    let mask = if num_bits == 32 { u32::MAX as u64 } else { (1u64 << num_bits) - 1 };
    let mut bit = 0usize;
    for v in out.iter_mut() {
        let (byte, shift) = (bit / 8, bit % 8);
        let mut word = 0u64;
        for (i, &b) in data[byte..(byte + 5).min(data.len())].iter().enumerate() {
            word |= (b as u64) << (8 * i);
        }
        *v = ((word >> shift) & mask) as u32;
        bit += num_bits as usize;
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
        let last = chunk_docs[len - 1];
        let offset = data.len() as u64;
        let num_bits;
        if len == BLOCK_LEN {
            buf.copy_from_slice(chunk_docs);
            num_bits = packer.num_bits_sorted(base, &buf);
            let n = packer.compress_sorted(base, &buf, &mut packed, num_bits);
            data.extend_from_slice(&packed[..n]);
        } else {
            let mut prev = base;
            let deltas: Vec<u32> = chunk_docs
                .iter()
                .map(|&d| {
                    let delta = d - prev;
                    prev = d;
                    delta
                })
                .collect();
            num_bits = deltas.iter().map(|d| 32 - d.leading_zeros()).max().unwrap_or(0) as u8;
            pack_scalar(&deltas, num_bits, data);
        }
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

/// Decodes a block's doc ids into `docs[..len]` and returns its impacts. `data` is the block's bytes
/// (`meta.data_len()` long; the reader checks bounds when it opens the segment).
pub(crate) fn decode_block<'a>(meta: &BlockMeta, data: &'a [u8], docs: &mut [u32; BLOCK_LEN]) -> &'a [u8] {
    let len = meta.len as usize;
    let packed = packed_len(meta.num_bits, len);
    if len == BLOCK_LEN {
        BitPacker4x::new().decompress_sorted(meta.base, &data[..packed], docs, meta.num_bits);
    } else {
        unpack_scalar(&data[..packed], meta.num_bits, &mut docs[..len]);
        let mut prev = meta.base;
        for d in &mut docs[..len] {
            prev = prev.wrapping_add(*d);
            *d = prev;
        }
    }
    &data[packed..packed + len]
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
                let mut enc = ByteWriter::new();
                m.encode(&mut enc);
                assert_eq!(enc.len(), BlockMeta::LEN);
                assert_eq!(BlockMeta::decode(&enc.buf), *m);
            }
            assert_eq!(out_docs, docs);
            assert_eq!(out_impacts, impacts);
        }
    }

    #[test]
    fn partial_blocks_with_wide_gaps() {
        let mut buf = [0u32; BLOCK_LEN];
        for docs in [vec![0u32], vec![0, 5, 1 << 31, u32::MAX - 1], (0..200).map(|i| i * 20_000_000).collect()] {
            let impacts = vec![7u8; docs.len()];
            let mut data = Vec::new();
            let metas = encode_postings(&docs, &impacts, &mut data);
            let mut out = Vec::new();
            for m in &metas {
                let start = m.offset as usize;
                decode_block(m, &data[start..start + m.data_len()], &mut buf);
                out.extend_from_slice(&buf[..m.len as usize]);
            }
            assert_eq!(out, docs);
            assert_eq!(data.len(), metas.iter().map(|m| m.data_len()).sum::<usize>());
        }
    }
}
