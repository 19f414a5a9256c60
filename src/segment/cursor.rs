//! The posting cursor: the one way a segment's posting list is read, block by block. Search, merge, inspection,
//! the integrity check and the fuzz targets all walk lists through it; a block is decoded only when asked, so
//! block-max pruning can look at a block's metadata first and skip it.

use super::postings::{BlockMeta, BLOCK_LEN};
use super::reader::Segment;
use super::records::LatentEntry;

/// A cursor over one latent's posting list (see the module documentation). Before the first
/// [`next_block`](Self::next_block) it is on no block.
pub(crate) struct PostingCursor<'s> {
    segment: &'s Segment,
    entry: LatentEntry,
    /// The next block to move to (an index into the block metadata).
    next: u32,
    /// The current block (all zero before the first [`next_block`](Self::next_block)).
    meta: BlockMeta,
    docs: [u32; BLOCK_LEN],
}

impl<'s> PostingCursor<'s> {
    /// A cursor on `entry`'s list in `segment`.
    pub(crate) fn new(segment: &'s Segment, entry: LatentEntry) -> Self {
        PostingCursor { segment, entry, next: entry.first_block, meta: BlockMeta::default(), docs: [0; BLOCK_LEN] }
    }

    /// The list's directory entry (latent, document frequency, blocks, largest impact).
    pub(crate) fn entry(&self) -> &LatentEntry {
        &self.entry
    }

    /// Moves to the next block; `false` once the list is done.
    pub(crate) fn next_block(&mut self) -> bool {
        if self.next >= self.entry.first_block + self.entry.num_blocks {
            self.meta = BlockMeta::default();
            return false;
        }
        self.meta = self.segment.block(self.next as usize);
        self.next += 1;
        true
    }

    /// The current block's metadata (after [`next_block`](Self::next_block) returned `true`; an empty block
    /// before it and after the end).
    pub(crate) fn block(&self) -> &BlockMeta {
        &self.meta
    }

    /// The position of the current block in the list (0 for the first).
    pub(crate) fn block_index(&self) -> u32 {
        self.next.saturating_sub(self.entry.first_block + 1)
    }

    /// The smallest doc id the current block can hold: the previous block's last doc + 1, or 0 for the first.
    pub(crate) fn block_start(&self) -> u32 {
        if self.block_index() == 0 {
            0
        } else {
            self.block().base.saturating_add(1)
        }
    }

    /// Decodes the current block: its doc ids (strictly increasing) and impact codes, of equal length.
    pub(crate) fn decode(&mut self) -> (&[u32], &'s [u8]) {
        let meta = *self.block();
        let impacts = self.segment.decode(&meta, &mut self.docs);
        (&self.docs[..impacts.len()], impacts)
    }

    /// The doc ids of the current block as [`decode`](Self::decode) left them (empty before the first block).
    pub(crate) fn decoded_docs(&self) -> &[u32] {
        &self.docs[..(self.meta.len as usize).min(BLOCK_LEN)]
    }

    /// Calls `f(doc, impact)` for every remaining posting, block by block, stopping at the first error.
    pub(crate) fn try_for_each<E>(&mut self, mut f: impl FnMut(u32, u8) -> Result<(), E>) -> Result<(), E> {
        while self.next_block() {
            let (docs, impacts) = self.decode();
            for (&doc, &impact) in docs.iter().zip(impacts) {
                f(doc, impact)?;
            }
        }
        Ok(())
    }
}

impl Segment {
    /// A cursor on `latent`'s posting list, if any document of the segment has it.
    pub(crate) fn postings(&self, latent: u32) -> Option<PostingCursor<'_>> {
        self.latent(latent).map(|entry| PostingCursor::new(self, entry))
    }

    /// Cursors on every posting list, in latent order.
    pub(crate) fn all_postings(&self) -> impl Iterator<Item = PostingCursor<'_>> + '_ {
        self.latent_entries().map(move |entry| PostingCursor::new(self, entry))
    }
}
