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

use crate::document::Document;
use crate::vector::{Quantizer, SparseVector};

const LIVE: u64 = u64::MAX;

struct Slot {
    key: Arc<[u8]>,
    doc: Arc<Document>,
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
    pub(crate) doc: Arc<Document>,
}

impl Memtable {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The live version of `key` as of the newest commit (writer side).
    pub(crate) fn current(&self, key: &[u8]) -> Option<Arc<Document>> {
        let inner = self.inner.read();
        let slot = *inner.keys.get(key)?.last()?;
        let s = &inner.slots[slot as usize];
        (s.deleted == LIVE).then(|| s.doc.clone())
    }

    /// The version of `key` visible at `seq`, if the memtable has one.
    pub(crate) fn get_at(&self, key: &[u8], seq: u64) -> Option<Arc<Document>> {
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

    /// Adds a new live version of `key` created at `seq` (the caller ended the previous one).
    pub(crate) fn insert(&self, key: &[u8], doc: Arc<Document>, seq: u64, quantizer: &Quantizer, size: usize) {
        let mut inner = self.inner.write();
        let slot = inner.slots.len() as u32;
        for (latent, weight) in doc.vector.iter() {
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

    /// The live documents as of the newest commit, in key order (what a flush writes).
    pub(crate) fn live_documents(&self) -> Vec<(Arc<[u8]>, Arc<Document>)> {
        let inner = self.inner.read();
        inner
            .keys
            .values()
            .filter_map(|slots| {
                let s = &inner.slots[*slots.last()? as usize];
                (s.deleted == LIVE).then(|| (s.key.clone(), s.doc.clone()))
            })
            .collect()
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
            b.0.total_cmp(&a.0).then_with(|| inner.slots[a.1 as usize].key.cmp(&inner.slots[b.1 as usize].key))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(ids: &[u32]) -> Arc<Document> {
        Arc::new(Document::new(SparseVector::new(ids.to_vec(), vec![1.0; ids.len()]).unwrap()))
    }

    #[test]
    fn versions_are_visible_by_sequence() {
        let q = Quantizer::new(8.0).unwrap();
        let m = Memtable::new();
        m.insert(b"a", doc(&[1, 2]), 1, &q, 10);
        assert!(m.delete(b"a", 3));
        m.insert(b"a", doc(&[2, 3]), 3, &q, 10);
        m.insert(b"b", doc(&[2]), 4, &q, 10);
        assert!(m.get_at(b"a", 0).is_none());
        assert_eq!(m.get_at(b"a", 2).unwrap().vector.ids(), &[1, 2]);
        assert_eq!(m.get_at(b"a", 3).unwrap().vector.ids(), &[2, 3]);
        assert!(m.get_at(b"b", 3).is_none());
        let query = SparseVector::new(vec![2], vec![1.0]).unwrap();
        assert_eq!(m.search(2, &query, &q, 10).len(), 1);
        let hits = m.search(4, &query, &q, 10);
        assert_eq!(hits.iter().map(|h| &*h.key).collect::<Vec<_>>(), vec![&b"a"[..], b"b"]);
        assert_eq!(m.live_documents().len(), 2);
        assert!(m.delete(b"b", 5));
        assert!(!m.delete(b"b", 6));
        assert_eq!(m.live_documents().len(), 1);
    }
}
