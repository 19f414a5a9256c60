//! The in-memory table: recent committed documents, searchable by snapshots, until a flush writes them to a
//! segment.
//!
//! It is multi-versioned and append-only: every document version is a slot stamped with the sequence number
//! of the transaction that created it and, once replaced or deleted, of the one that ended it. A snapshot at
//! sequence `s` sees the slots with `created <= s < deleted`, so the single writer can keep appending while
//! readers search older snapshots. The lock is held only for the length of one lookup or one search.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::document::PreparedDocument;
use crate::error::Result;
use crate::segment::{encode_record, quantized, ListSink, RecordSink, SegmentInput, VectorSink};
use crate::vector::{rank_order, Quantizer, SparseVector};

const LIVE: u64 = u64::MAX;

struct Slot {
    key: Arc<[u8]>,
    doc: Arc<PreparedDocument>,
    created: u64,
    deleted: u64,
}

impl Slot {
    #[inline]
    fn visible_at(&self, seq: u64) -> bool {
        self.created <= seq && seq < self.deleted
    }
}

#[derive(Default)]
struct Inner {
    slots: Vec<Slot>,
    /// Slots of each key, oldest first.
    keys: BTreeMap<Arc<[u8]>, Vec<u32>>,
    /// latent -> (slot, impact code), slots increasing.
    postings: HashMap<u32, Vec<(u32, u8)>>,
    bytes: usize,
}

/// The in-memory table. See the module documentation.
#[derive(Default)]
pub(crate) struct Memtable {
    inner: RwLock<Inner>,
}

/// A slot of the memtable found by a search.
pub(crate) struct MemHit {
    pub(crate) score: f32,
    pub(crate) key: Arc<[u8]>,
    pub(crate) doc: Arc<PreparedDocument>,
}

impl Memtable {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The live version of `key` as of the newest commit (writer side).
    pub(crate) fn current(&self, key: &[u8]) -> Option<Arc<PreparedDocument>> {
        let inner = self.inner.read();
        let slot = *inner.keys.get(key)?.last()?;
        let s = &inner.slots[slot as usize];
        (s.deleted == LIVE).then(|| s.doc.clone())
    }

    /// The version of `key` visible at `seq`, if the memtable has one.
    pub(crate) fn get_at(&self, key: &[u8], seq: u64) -> Option<Arc<PreparedDocument>> {
        let inner = self.inner.read();
        let slots = inner.keys.get(key)?;
        slots.iter().rev().map(|&s| &inner.slots[s as usize]).find(|s| s.visible_at(seq)).map(|s| s.doc.clone())
    }

    /// Ends the live version of `key` at `seq`; returns whether there was one.
    pub(crate) fn delete(&self, key: &[u8], seq: u64) -> bool {
        let mut inner = self.inner.write();
        let Some(&slot) = inner.keys.get(key).and_then(|s| s.last()) else { return false };
        let s = &mut inner.slots[slot as usize];
        if s.deleted != LIVE {
            return false;
        }
        s.deleted = seq;
        true
    }

    /// Adds a new live version of `key` created at `seq` (the caller ended the previous one). Its weights are
    /// quantized here, once: a flush writes these posting lists as they are.
    pub(crate) fn insert(&self, key: &[u8], doc: Arc<PreparedDocument>, seq: u64, quantizer: &Quantizer) {
        let size = doc.memory(key);
        let mut inner = self.inner.write();
        let slot = inner.slots.len() as u32;
        for (latent, weight) in doc.doc.vector.iter() {
            let code = quantizer.quantize(weight);
            if code > 0 {
                inner.postings.entry(latent).or_default().push((slot, code));
            }
        }
        let key: Arc<[u8]> = match inner.keys.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => Arc::from(key),
        };
        inner.keys.entry(key.clone()).or_default().push(slot);
        inner.slots.push(Slot { key, doc, created: seq, deleted: LIVE });
        inner.bytes += size;
    }

    /// The keys with a version visible at `seq`.
    pub(crate) fn keys_at(&self, seq: u64) -> Vec<Arc<[u8]>> {
        let inner = self.inner.read();
        inner
            .keys
            .iter()
            .filter(|(_, slots)| slots.iter().any(|&s| inner.slots[s as usize].visible_at(seq)))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Approximate bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.inner.read().bytes
    }

    /// The live documents as of the newest commit, in key order, with their posting lists: what a flush
    /// writes. The memtable must not change while it is used (the flush holds the writer lock).
    pub(crate) fn segment_input(&self) -> MemtableInput<'_> {
        let inner = self.inner.read();
        let mut doc_of_slot = vec![u32::MAX; inner.slots.len()];
        let mut slots = Vec::new();
        for list in inner.keys.values() {
            if let Some(&last) = list.last() {
                if inner.slots[last as usize].deleted == LIVE {
                    doc_of_slot[last as usize] = slots.len() as u32;
                    slots.push(last);
                }
            }
        }
        MemtableInput { inner, doc_of_slot, slots }
    }

    /// Exact top-`k` of the documents visible at `seq`: score descending, then key ascending. Scores sum
    /// `query weight * dequantized impact` in increasing latent order, like [`Quantizer::score`].
    pub(crate) fn search(&self, seq: u64, query: &SparseVector, quantizer: &Quantizer, k: usize) -> Vec<MemHit> {
        let inner = self.inner.read();
        let mut acc = vec![0.0f32; inner.slots.len()];
        for (latent, qw) in query.iter() {
            if let Some(list) = inner.postings.get(&latent) {
                for &(slot, code) in list {
                    acc[slot as usize] += qw * quantizer.dequantize(code);
                }
            }
        }
        let mut hits: Vec<(f32, u32)> = acc
            .iter()
            .enumerate()
            .filter(|&(slot, &score)| score > 0.0 && inner.slots[slot].visible_at(seq))
            .map(|(slot, &score)| (score, slot as u32))
            .collect();
        let order = |a: &(f32, u32), b: &(f32, u32)| {
            rank_order(a.0, &inner.slots[a.1 as usize].key, b.0, &inner.slots[b.1 as usize].key)
        };
        if hits.len() > k && k > 0 {
            hits.select_nth_unstable_by(k - 1, order);
        }
        hits.truncate(k);
        hits.sort_by(order);
        hits.into_iter()
            .map(|(score, slot)| {
                let s = &inner.slots[slot as usize];
                MemHit { score, key: s.key.clone(), doc: s.doc.clone() }
            })
            .collect()
    }
}

/// The memtable as a segment's input: documents in key order (segment doc ids follow key order), and the
/// memtable's own inverted lists, renumbered to those doc ids.
pub(crate) struct MemtableInput<'a> {
    inner: parking_lot::RwLockReadGuard<'a, Inner>,
    /// The doc id of each live slot (`u32::MAX` for the others).
    doc_of_slot: Vec<u32>,
    /// The live slots in key order.
    slots: Vec<u32>,
}

impl SegmentInput for MemtableInput<'_> {
    fn num_docs(&self) -> u32 {
        u32::try_from(self.slots.len()).unwrap_or(u32::MAX)
    }

    fn for_each_list(&mut self, only: Option<&[u32]>, f: &mut ListSink<'_>) -> Result<()> {
        let mut latents: Vec<u32> = self.inner.postings.keys().copied().collect();
        latents.sort_unstable();
        if let Some(only) = only {
            latents.retain(|l| only.binary_search(l).is_ok());
        }
        let mut list: Vec<(u32, u8)> = Vec::new();
        let (mut docs, mut impacts) = (Vec::new(), Vec::new());
        for latent in latents {
            list.clear();
            list.extend(
                self.inner.postings[&latent]
                    .iter()
                    .map(|&(slot, code)| (self.doc_of_slot[slot as usize], code))
                    .filter(|&(doc, _)| doc != u32::MAX),
            );
            if list.is_empty() {
                continue;
            }
            // Slots follow insertion order, doc ids key order: the same when keys were inserted in order.
            if !list.is_sorted_by_key(|&(doc, _)| doc) {
                list.sort_unstable_by_key(|&(doc, _)| doc);
            }
            docs.clear();
            impacts.clear();
            docs.extend(list.iter().map(|&(doc, _)| doc));
            impacts.extend(list.iter().map(|&(_, code)| code));
            f(latent, &docs, &impacts)?;
        }
        Ok(())
    }

    fn for_each_record(&mut self, f: &mut RecordSink<'_>) -> Result<()> {
        for &slot in &self.slots {
            let s = &self.inner.slots[slot as usize];
            f(&s.key, &encode_record(&s.key, &s.doc))?;
        }
        Ok(())
    }

    fn for_each_vector(&mut self, quantizer: &Quantizer, f: &mut VectorSink<'_>) -> Result<()> {
        for &slot in &self.slots {
            let (ids, codes) = quantized(&self.inner.slots[slot as usize].doc.doc.vector, quantizer);
            f(&ids, &codes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Document;

    fn doc(ids: &[u32]) -> Arc<PreparedDocument> {
        let d = Document::new(SparseVector::new(ids.to_vec(), vec![1.0; ids.len()]).unwrap());
        Arc::new(PreparedDocument::new(b"k", d).unwrap())
    }

    #[test]
    fn versions_are_visible_by_sequence() {
        let q = Quantizer::new(8.0).unwrap();
        let m = Memtable::new();
        m.insert(b"a", doc(&[1, 2]), 1, &q);
        assert!(m.delete(b"a", 3));
        m.insert(b"a", doc(&[2, 3]), 3, &q);
        m.insert(b"b", doc(&[2]), 4, &q);
        assert!(m.get_at(b"a", 0).is_none());
        assert_eq!(m.get_at(b"a", 2).unwrap().doc.vector.ids(), &[1, 2]);
        assert_eq!(m.get_at(b"a", 3).unwrap().doc.vector.ids(), &[2, 3]);
        assert!(m.get_at(b"b", 3).is_none());
        let query = SparseVector::new(vec![2], vec![1.0]).unwrap();
        assert_eq!(m.search(2, &query, &q, 10).len(), 1);
        let hits = m.search(4, &query, &q, 10);
        assert_eq!(hits.iter().map(|h| &*h.key).collect::<Vec<_>>(), vec![&b"a"[..], b"b"]);
        assert_eq!(m.segment_input().num_docs(), 2);
        assert!(m.delete(b"b", 5));
        assert!(!m.delete(b"b", 6));
        assert_eq!(m.segment_input().num_docs(), 1);
    }

    /// The flush's input (the memtable's own lists, renumbered) equals a fresh inversion of the live documents
    /// in key order, whatever order the keys were inserted in and whatever was replaced or deleted.
    #[test]
    fn segment_input_equals_a_fresh_inversion() {
        let q = Quantizer::new(8.0).unwrap();
        let m = Memtable::new();
        let mut live = std::collections::BTreeMap::new();
        for i in 0..300u32 {
            let key = format!("k{:03}", (i * 37) % 200).into_bytes();
            let ids: Vec<u32> = (0..1 + i % 9)
                .map(|j| (i * 13 + j * 7) % 64)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let d = doc(&ids);
            let seq = i as u64 + 1;
            m.delete(&key, seq);
            if i % 11 == 5 {
                live.remove(&key);
                continue;
            }
            m.insert(&key, d.clone(), seq, &q);
            live.insert(key, d);
        }
        let mut expected: std::collections::BTreeMap<u32, (Vec<u32>, Vec<u8>)> = Default::default();
        for (doc_id, d) in live.values().enumerate() {
            for (latent, w) in d.doc.vector.iter() {
                let e = expected.entry(latent).or_default();
                e.0.push(doc_id as u32);
                e.1.push(q.quantize(w));
            }
        }
        let mut input = m.segment_input();
        assert_eq!(input.num_docs() as usize, live.len());
        let mut got = std::collections::BTreeMap::new();
        input
            .for_each_list(None, &mut |latent, docs, impacts| {
                got.insert(latent, (docs.to_vec(), impacts.to_vec()));
                Ok(())
            })
            .unwrap();
        assert_eq!(got, expected);
        let mut keys = Vec::new();
        input
            .for_each_record(&mut |key, _| {
                keys.push(key.to_vec());
                Ok(())
            })
            .unwrap();
        assert_eq!(keys, live.keys().cloned().collect::<Vec<_>>());
    }
}
