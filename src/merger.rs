//! Running merges: the three phases of one merge (pick under the writer lock, build without it, commit under it),
//! the policy loop, and the background merge thread with its scheduler.
//!
//! A merge reserves its inputs (`MergeScheduler::merging`) so that no other merge takes them, builds the new
//! segment while writers and readers go on, then commits: deletions that reached its inputs while it ran are
//! carried over to the new segment (through the doc-id remap), and one manifest write swaps it in.
//!
//! Back-pressure: when background merging cannot keep up and the segment count reaches
//! [`Options::max_segments`](crate::Options::max_segments), the writer runs the policy's merges itself at the
//! next flush, so the count stays bounded whatever the write rate.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::db::{Shared, Writer};
use crate::error::{Error, Result};
use crate::manifest::{write_manifest, SegmentMeta};
use crate::merge::{MergeInput, DROPPED};
use crate::options::Durability;
use crate::segment::{deletes_file_name, segment_file_name, write_deletes, write_segment_from, DeleteSet, Segment};
use crate::version::{SegmentView, Version};

/// A merge picked under the writer lock.
pub(crate) struct MergeJob {
    views: Vec<SegmentView>,
    input_ids: Vec<u64>,
    new_id: u64,
}

/// A merge whose segment file is written.
pub(crate) struct BuiltMerge {
    num_docs: u32,
    remap: Vec<Vec<u32>>,
}

#[derive(Default)]
struct SchedulerState {
    /// Segment ids reserved by running merges.
    merging: HashSet<u64>,
    /// Files being written by running merges (not yet in the manifest, not orphans).
    building: HashSet<String>,
    /// Flushes so far, and how many of them the background thread has looked at.
    flushes: u64,
    seen: u64,
    shutdown: bool,
    /// Whether a background thread serves this database.
    background: bool,
}

/// Coordinates merges between the writer, the background thread, `compact` and `wait_for_merges`.
#[derive(Default)]
pub(crate) struct MergeScheduler {
    state: Mutex<SchedulerState>,
    changed: Condvar,
}

impl MergeScheduler {
    pub(crate) fn set_background(&self, on: bool) {
        self.state.lock().background = on;
    }

    /// Asks the background thread to look for merges.
    pub(crate) fn notify_flush(&self) {
        let mut st = self.state.lock();
        st.flushes += 1;
        self.changed.notify_all();
    }

    pub(crate) fn shutdown(&self) {
        let mut st = self.state.lock();
        st.shutdown = true;
        self.changed.notify_all();
    }

    /// Blocks until no merge runs and none is pending.
    pub(crate) fn wait_idle(&self) {
        let mut st = self.state.lock();
        while !st.shutdown && (!st.merging.is_empty() || (st.background && st.flushes != st.seen)) {
            self.changed.wait(&mut st);
        }
    }

    pub(crate) fn busy(&self) -> bool {
        !self.state.lock().merging.is_empty()
    }

    /// Files of merges in progress.
    pub(crate) fn building(&self) -> HashSet<String> {
        self.state.lock().building.clone()
    }

    fn reserved(&self) -> HashSet<u64> {
        self.state.lock().merging.clone()
    }

    fn reserve(&self, job: &MergeJob) {
        let mut st = self.state.lock();
        st.merging.extend(job.input_ids.iter().copied());
        st.building.insert(segment_file_name(job.new_id));
    }

    fn release(&self, job: &MergeJob) {
        let mut st = self.state.lock();
        for id in &job.input_ids {
            st.merging.remove(id);
        }
        st.building.remove(&segment_file_name(job.new_id));
        self.changed.notify_all();
    }
}

impl Shared {
    /// The policy's next merge among segments no other merge holds, as positions in `version.segments`.
    fn next_candidates(&self, version: &Version) -> Option<Vec<usize>> {
        let policy = self.options.merge_policy.as_ref()?;
        let reserved = self.merges.reserved();
        let available: Vec<usize> =
            (0..version.segments.len()).filter(|&i| !reserved.contains(&version.segments[i].segment.id())).collect();
        let stats: Vec<crate::SegmentStats> = available
            .iter()
            .map(|&i| {
                let v = &version.segments[i];
                crate::SegmentStats { documents: v.segment.num_docs(), deleted: v.deletes.count() }
            })
            .collect();
        policy.candidates(&stats).map(|picked| picked.into_iter().map(|p| available[p]).collect())
    }

    /// The `segments_per_tier` smallest segments no merge holds (at least two), for back-pressure.
    fn smallest(&self, version: &Version) -> Option<Vec<usize>> {
        let per_tier = self.options.merge_policy.as_ref()?.segments_per_tier.max(2);
        let reserved = self.merges.reserved();
        let mut available: Vec<usize> =
            (0..version.segments.len()).filter(|&i| !reserved.contains(&version.segments[i].segment.id())).collect();
        if available.len() < 2 {
            return None;
        }
        available.sort_by_key(|&i| version.segments[i].segment.num_docs() - version.segments[i].deletes.count());
        available.truncate(per_tier);
        available.sort_unstable();
        Some(available)
    }

    /// After a flush: without a background thread, run the policy's merges now; with one, wake it, and merge
    /// here only while the segment count is at `max_segments` (back-pressure).
    pub(crate) fn after_flush(&self, writer: &mut Writer) -> Result<()> {
        if self.options.merge_policy.is_none() {
            return Ok(());
        }
        let background = self.merges.state.lock().background;
        loop {
            let over = writer.latest.segments.len() >= self.options.max_segments;
            if background && !over {
                break;
            }
            // Over the limit and the policy has nothing due: merge the smallest available segments anyway.
            let inputs =
                self.next_candidates(&writer.latest).or_else(|| over.then(|| self.smallest(&writer.latest)).flatten());
            match inputs {
                Some(inputs) => self.merge(writer, &inputs, &mut |_, _| {})?,
                None => break,
            }
        }
        if background {
            self.merges.notify_flush();
        }
        Ok(())
    }

    /// Merges the segments at positions `inputs` of the writer's newest version, entirely under the writer
    /// lock. Any failure poisons the writer (files written so far are orphans the next open removes).
    pub(crate) fn merge(
        &self,
        writer: &mut Writer,
        inputs: &[usize],
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        let job = self.prepare_merge(writer, inputs);
        self.merges.reserve(&job);
        let result = self.build_merge(&job, progress).and_then(|built| self.commit_merge(writer, &job, built));
        self.merges.release(&job);
        if let Err(e) = &result {
            writer.poisoned = Some(format!("merge failed: {e}"));
        }
        result
    }

    fn prepare_merge(&self, writer: &mut Writer, inputs: &[usize]) -> MergeJob {
        let views: Vec<SegmentView> = inputs.iter().map(|&i| writer.latest.segments[i].clone()).collect();
        let input_ids = views.iter().map(|v| v.segment.id()).collect();
        // Reserved in memory; the next manifest written records the higher counter.
        let new_id = writer.manifest.next_file_id;
        writer.manifest.next_file_id += 1;
        MergeJob { views, input_ids, new_id }
    }

    /// Writes the merged segment (no lock needed: the inputs are immutable, their deletions as of the pick).
    fn build_merge(&self, job: &MergeJob, progress: &mut dyn FnMut(u64, u64)) -> Result<BuiltMerge> {
        let storage = self.storage.as_ref();
        let sync = self.options.durability != Durability::Off;
        let mut input = MergeInput::new(&job.views).with_progress(progress);
        let num_docs = crate::segment::SegmentInput::num_docs(&input);
        if num_docs > 0 {
            write_segment_from(storage, job.new_id, &mut input, self.dims, self.quantizer.max_weight(), sync)?;
        }
        Ok(BuiltMerge { num_docs, remap: input.into_remap() })
    }

    fn commit_merge(&self, writer: &mut Writer, job: &MergeJob, built: BuiltMerge) -> Result<()> {
        let storage = self.storage.as_ref();
        let sync = self.options.durability != Durability::Off;
        let latest = writer.latest.clone();
        // Deletions that reached the inputs while the merge ran move to the new segment.
        let mut late = DeleteSet::empty(built.num_docs);
        for (k, id) in job.input_ids.iter().enumerate() {
            let now = latest.segments.iter().find(|v| v.segment.id() == *id).ok_or_else(|| {
                Error::corrupt(segment_file_name(*id), "a merge input left the database while being merged")
            })?;
            for doc in 0..now.segment.num_docs() {
                if now.deletes.contains(doc) && !job.views[k].deletes.contains(doc) {
                    let new = built.remap[k][doc as usize];
                    if new != DROPPED {
                        late.insert(new);
                    }
                }
            }
        }
        let mut manifest = writer.manifest.clone();
        let mut del_gen = 0;
        if built.num_docs > 0 && late.count() > 0 {
            del_gen = 1;
            write_deletes(storage, job.new_id, del_gen, &late, sync)?;
        }
        if built.num_docs > 0 && sync {
            storage.sync_dir().map_err(|e| Error::io(storage.location(), "sync directory", e))?;
        }
        let obsolete_deletes: Vec<String> = manifest
            .segments
            .iter()
            .filter(|m| job.input_ids.contains(&m.id) && m.del_gen > 0)
            .map(|m| deletes_file_name(m.id, m.del_gen))
            .collect();
        manifest.segments.retain(|m| !job.input_ids.contains(&m.id));
        if built.num_docs > 0 {
            let at = manifest.segments.partition_point(|m| m.id < job.new_id);
            manifest.segments.insert(at, SegmentMeta { id: job.new_id, num_docs: built.num_docs, del_gen });
        }
        // The merge persists the effects (deletions, replaced documents dropped) of every transaction up to
        // `latest.seq`, also those after the last checkpoint, whose WAL records may not be durable yet (Normal
        // mode, or Full-mode commits still waiting for their group fsync). They must be made durable first, or
        // a power loss could keep the merge's deletions while losing the transactions that made them.
        if sync && latest.seq > writer.manifest.flushed_seq && writer.wal.durable_offset() < writer.wal.len() {
            writer.wal.sync()?;
        }
        write_manifest(storage, &manifest, sync)?;

        // Committed: publish, then retire the inputs (their files go when no snapshot reads them any more).
        let mut segments: Vec<SegmentView> =
            latest.segments.iter().filter(|v| !job.input_ids.contains(&v.segment.id())).cloned().collect();
        if built.num_docs > 0 {
            let segment = Arc::new(Segment::open(storage, job.new_id)?);
            let at = segments.partition_point(|v| v.segment.id() < job.new_id);
            segments.insert(at, SegmentView { deletes: Arc::new(late), segment });
        }
        let next = Arc::new(Version { segments, ..(*latest).clone() });
        writer.latest = next.clone();
        writer.manifest.segments = manifest.segments;
        for id in &job.input_ids {
            writer.dirty.remove(id);
        }
        self.publish(next, true);
        for view in &job.views {
            view.segment.retire(self.storage.clone(), self.retained.clone());
        }
        for name in obsolete_deletes {
            let _ = storage.remove(&name);
        }
        Ok(())
    }
}

/// The background merge thread: waits for flushes, then runs the policy's merges one at a time, holding the
/// writer lock only to pick and to commit. It exits when the database shuts down (a merge in progress is
/// finished and committed first).
pub(crate) fn run_background(shared: Arc<Shared>) {
    let Some(writer_lock) = shared.writer.as_ref() else { return };
    loop {
        let looking_at = {
            let mut st = shared.merges.state.lock();
            while st.flushes == st.seen && !st.shutdown {
                shared.merges.changed.wait(&mut st);
            }
            if st.shutdown {
                return;
            }
            st.flushes
        };
        loop {
            let job = {
                let mut writer = writer_lock.lock();
                if shared.check_writable(&writer).is_err() {
                    break;
                }
                let Some(inputs) = shared.next_candidates(&writer.latest) else { break };
                let job = shared.prepare_merge(&mut writer, &inputs);
                shared.merges.reserve(&job);
                job
            };
            let built = shared.build_merge(&job, &mut |_, _| {});
            let mut writer = writer_lock.lock();
            let result = built.and_then(|b| shared.commit_merge(&mut writer, &job, b));
            if let Err(e) = result {
                // Surfaced to the application by the next write, like any write-path failure.
                writer.poisoned = Some(format!("background merge failed: {e}"));
            }
            drop(writer);
            shared.merges.release(&job);
        }
        // Every flush up to `looking_at` has been looked at: nothing more to merge for them.
        let mut st = shared.merges.state.lock();
        st.seen = looking_at;
        shared.merges.changed.notify_all();
    }
}
