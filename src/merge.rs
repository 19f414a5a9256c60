//! Merging segments: the live documents of several segments are rewritten into one new segment, in key order,
//! dropping deleted and superseded documents; posting lists are carried over (doc ids remapped), not rebuilt
//! from vectors, and document records are copied as they are. The new segment then replaces its inputs in one
//! atomic manifest swap (see `Shared::merge` in `db.rs`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::error::{Error, Result};
use crate::segment::{decode_record, quantized, ListSink, RecordSink, SegmentInput, SequentialRecords, VectorSink};
use crate::vector::Quantizer;
use crate::version::SegmentView;

pub(crate) const DROPPED: u32 = u32::MAX;

/// The input of a merge: the live documents of `inputs`, merged by key.
pub(crate) struct MergeInput<'a> {
    inputs: &'a [SegmentView],
    /// Called with (documents written, documents in all) as the document store is copied.
    progress: Option<&'a mut dyn FnMut(u64, u64)>,
    /// Output documents in order: (input, old doc id).
    order: Vec<(u32, u32)>,
    /// `remap[input][old doc]` is the new doc id, or `DROPPED`.
    remap: Vec<Vec<u32>>,
}

impl<'a> MergeInput<'a> {
    pub(crate) fn new(inputs: &'a [SegmentView]) -> Self {
        let mut remap: Vec<Vec<u32>> = inputs.iter().map(|v| vec![DROPPED; v.segment.num_docs() as usize]).collect();
        let mut order = Vec::new();
        // k-way merge of the inputs' key-ordered documents.
        let next_live = |input: usize, from: u32| -> Option<u32> {
            let v = &inputs[input];
            (from..v.segment.num_docs()).find(|&d| !v.deletes.contains(d))
        };
        let mut heap = BinaryHeap::new();
        for (input, view) in inputs.iter().enumerate() {
            if let Some(d) = next_live(input, 0) {
                heap.push(Reverse((view.segment.key(d), input, d)));
            }
        }
        while let Some(Reverse((_, input, doc))) = heap.pop() {
            remap[input][doc as usize] = order.len() as u32;
            order.push((input as u32, doc));
            if let Some(d) = next_live(input, doc + 1) {
                heap.push(Reverse((inputs[input].segment.key(d), input, d)));
            }
        }
        MergeInput { inputs, progress: None, order, remap }
    }
}

impl<'a> MergeInput<'a> {
    /// `remap[input][old doc]`: the new doc id, or `u32::MAX` for a document the merge dropped.
    pub(crate) fn with_progress(mut self, progress: &'a mut dyn FnMut(u64, u64)) -> Self {
        self.progress = Some(progress);
        self
    }

    pub(crate) fn into_remap(self) -> Vec<Vec<u32>> {
        self.remap
    }
}

impl SegmentInput for MergeInput<'_> {
    fn num_docs(&self) -> u32 {
        u32::try_from(self.order.len()).unwrap_or(u32::MAX)
    }

    fn for_each_list(&mut self, only: Option<&[u32]>, f: &mut ListSink<'_>) -> Result<()> {
        let latents: Vec<u32> = match only {
            Some(only) => only.to_vec(),
            None => {
                let mut all: Vec<u32> =
                    self.inputs.iter().flat_map(|v| v.segment.latent_entries().map(|e| e.latent)).collect();
                all.sort_unstable();
                all.dedup();
                all
            }
        };
        let mut pairs: Vec<(u32, u8)> = Vec::new();
        let (mut docs, mut impacts) = (Vec::new(), Vec::new());
        for latent in latents {
            pairs.clear();
            for (input, view) in self.inputs.iter().enumerate() {
                let Some(mut cursor) = view.segment.postings(latent) else { continue };
                let remap = &self.remap[input];
                cursor.try_for_each(|old, code| {
                    let new = *remap.get(old as usize).ok_or_else(|| {
                        Error::corrupt(
                            view.segment.name(),
                            format!("posting of latent {latent} names missing doc {old}"),
                        )
                    })?;
                    if new != DROPPED {
                        pairs.push((new, code));
                    }
                    Ok::<_, Error>(())
                })?;
            }
            if pairs.is_empty() {
                continue;
            }
            // Each input's remapped list is sorted, but the inputs interleave.
            pairs.sort_unstable_by_key(|p| p.0);
            docs.clear();
            impacts.clear();
            docs.extend(pairs.iter().map(|p| p.0));
            impacts.extend(pairs.iter().map(|p| p.1));
            f(latent, &docs, &impacts)?;
        }
        Ok(())
    }

    fn for_each_record(&mut self, f: &mut RecordSink<'_>) -> Result<()> {
        let mut readers: Vec<SequentialRecords> = self.inputs.iter().map(|_| SequentialRecords::default()).collect();
        let total = self.order.len() as u64;
        for (done, &(input, doc)) in self.order.iter().enumerate() {
            let segment = &self.inputs[input as usize].segment;
            let record = segment.sequential_record(&mut readers[input as usize], doc)?;
            f(segment.key(doc), record)?;
            if done % 4096 == 4095 {
                if let Some(p) = self.progress.as_mut() {
                    p(done as u64 + 1, total);
                }
            }
        }
        if let Some(p) = self.progress.as_mut() {
            p(total, total);
        }
        Ok(())
    }

    fn for_each_vector(&mut self, quantizer: &Quantizer, f: &mut VectorSink<'_>) -> Result<()> {
        // Version-2 inputs hand over their forward vectors as they are (same quantizer: one database, one
        // max_weight); version-1 inputs have their records decoded and quantized.
        let forwards: Vec<_> = self.inputs.iter().map(|v| v.segment.approx().map(|(_, forward)| forward)).collect();
        let mut readers: Vec<SequentialRecords> = self.inputs.iter().map(|_| SequentialRecords::default()).collect();
        let (mut ids, mut codes) = (Vec::new(), Vec::new());
        for &(input, doc) in &self.order {
            let segment = &self.inputs[input as usize].segment;
            match &forwards[input as usize] {
                Some(forward) => {
                    ids.clear();
                    codes.clear();
                    forward
                        .for_each(doc, segment.dims(), |latent, code| {
                            ids.push(latent);
                            codes.push(code);
                        })
                        .ok_or_else(|| {
                            Error::corrupt(segment.name(), format!("forward vector of doc {doc} is malformed"))
                        })?;
                    f(&ids, &codes)?;
                }
                None => {
                    let record = segment.sequential_record(&mut readers[input as usize], doc)?;
                    let (_, document) = decode_record(record)
                        .map_err(|e| Error::corrupt(segment.name(), format!("record of doc {doc}: {e}")))?;
                    let (ids, codes) = quantized(&document.vector, quantizer);
                    f(&ids, &codes)?;
                }
            }
        }
        Ok(())
    }
}
