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

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::install::Install;
use super::{Engine, Writer};
use crate::error::{Error, Result};
use crate::files;
use crate::manifest::SegmentMeta;
use crate::merge::{MergeInput, DROPPED};
use crate::merge_policy::SegmentStats;
use crate::segment::{write_deletes, DeleteSet, Segment};
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
        st.building.insert(files::segment(job.new_id));
    }

    fn release(&self, job: &MergeJob) {
        let mut st = self.state.lock();
        for id in &job.input_ids {
            st.merging.remove(id);
        }
        st.building.remove(&files::segment(job.new_id));
        self.changed.notify_all();
    }
}

impl Engine {
    /// The policy's next merge among segments no other merge holds, as positions in `version.segments`.
    fn next_candidates(&self, version: &Version) -> Option<Vec<usize>> {
        let policy = self.options.merge_policy.as_ref()?;
        let reserved = self.merges.reserved();
        let available: Vec<usize> =
            (0..version.segments.len()).filter(|&i| !reserved.contains(&version.segments[i].segment.id())).collect();
        let stats: Vec<SegmentStats> = available
            .iter()
            .map(|&i| {
                let v = &version.segments[i];
                SegmentStats { documents: v.segment.num_docs(), deleted: v.deletes.count() }
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
        writer.poison_on_error("merge", result)
    }

    fn prepare_merge(&self, writer: &mut Writer, inputs: &[usize]) -> MergeJob {
        let views: Vec<SegmentView> = inputs.iter().map(|&i| writer.latest.segments[i].clone()).collect();
        let input_ids = views.iter().map(|v| v.segment.id()).collect();
        // Reserved in memory; the next manifest written records the higher counter.
        let new_id = writer.next_file_number();
        MergeJob { views, input_ids, new_id }
    }

    /// Writes the merged segment (no lock needed: the inputs are immutable, their deletions as of the pick).
    fn build_merge(&self, job: &MergeJob, progress: &mut dyn FnMut(u64, u64)) -> Result<BuiltMerge> {
        let sync = self.sync();
        let mut input = MergeInput::new(&job.views).with_progress(progress);
        let num_docs = crate::segment::SegmentInput::num_docs(&input);
        if num_docs > 0 {
            self.write_segment(job.new_id, &mut input, sync)?;
        }
        Ok(BuiltMerge { num_docs, remap: input.into_remap() })
    }

    fn commit_merge(&self, writer: &mut Writer, job: &MergeJob, built: BuiltMerge) -> Result<()> {
        let storage = self.storage.as_ref();
        let sync = self.sync();
        let latest = writer.latest.clone();
        // Deletions that reached the inputs while the merge ran move to the new segment.
        let mut late = DeleteSet::empty(built.num_docs);
        for (k, id) in job.input_ids.iter().enumerate() {
            let now = latest.segments.iter().find(|v| v.segment.id() == *id).ok_or_else(|| {
                Error::corrupt(files::segment(*id), "a merge input left the database while being merged")
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
        let obsolete: Vec<String> = manifest
            .segments
            .iter()
            .filter(|m| job.input_ids.contains(&m.id) && m.del_gen > 0)
            .map(|m| files::deletes(m.id, m.del_gen))
            .collect();
        manifest.segments.retain(|m| !job.input_ids.contains(&m.id));
        let mut segments: Vec<SegmentView> =
            latest.segments.iter().filter(|v| !job.input_ids.contains(&v.segment.id())).cloned().collect();
        if built.num_docs > 0 {
            let at = manifest.segments.partition_point(|m| m.id < job.new_id);
            manifest.segments.insert(at, SegmentMeta { id: job.new_id, num_docs: built.num_docs, del_gen });
            // Opened (and validated) before the manifest names it.
            let segment = Arc::new(Segment::open(storage, job.new_id)?);
            let at = segments.partition_point(|v| v.segment.id() < job.new_id);
            segments.insert(at, SegmentView { deletes: Arc::new(late), segment });
        }
        // The merge persists the effects (deletions, replaced documents dropped) of every transaction up to
        // `latest.seq`, also those after the last checkpoint, whose WAL records may not be durable yet (Normal
        // mode, or Full-mode commits still waiting for their group fsync). They must be made durable first, or
        // a power loss could keep the merge's deletions while losing the transactions that made them.
        if sync && latest.seq > writer.manifest.flushed_seq && writer.wal.durable_offset() < writer.wal.len() {
            writer.wal.sync()?;
        }
        let version = Version { segments, ..(*latest).clone() };
        let retired = job.views.iter().map(|v| v.segment.clone()).collect();
        self.install(writer, Install { manifest, version, wal: None, obsolete, retired })?;
        for id in &job.input_ids {
            writer.dirty.remove(id);
        }
        Ok(())
    }
}

/// Takes the writer lock for the background thread. After shutdown it stops waiting: a write transaction
/// that outlives its database handle (an owned one) may hold the lock in the very thread that waits for this
/// one to exit. `None` then: the merge is abandoned, its file an orphan the next open removes.
fn lock_writer<'a>(engine: &Engine, lock: &'a Mutex<Writer>) -> Option<MutexGuard<'a, Writer>> {
    loop {
        if let Some(writer) = lock.try_lock_for(std::time::Duration::from_millis(20)) {
            return Some(writer);
        }
        if engine.merges.state.lock().shutdown {
            return None;
        }
    }
}

/// The background merge thread: waits for flushes, then runs the policy's merges one at a time, holding the
/// writer lock only to pick and to commit. It exits when the database shuts down (a merge in progress is
/// finished and committed first).
pub(crate) fn run_background(engine: Arc<Engine>) {
    let Some(writer_lock) = engine.writer.as_ref() else { return };
    loop {
        let looking_at = {
            let mut st = engine.merges.state.lock();
            while st.flushes == st.seen && !st.shutdown {
                engine.merges.changed.wait(&mut st);
            }
            if st.shutdown {
                return;
            }
            st.flushes
        };
        loop {
            let job = {
                let Some(mut writer) = lock_writer(&engine, writer_lock) else { return };
                if engine.check_writable(&writer).is_err() {
                    break;
                }
                let Some(inputs) = engine.next_candidates(&writer.latest) else { break };
                let job = engine.prepare_merge(&mut writer, &inputs);
                engine.merges.reserve(&job);
                job
            };
            let built = engine.build_merge(&job, &mut |_, _| {});
            let Some(mut writer) = lock_writer(&engine, writer_lock) else {
                engine.merges.release(&job);
                return;
            };
            let result = built.and_then(|b| engine.commit_merge(&mut writer, &job, b));
            // Surfaced to the application by the next write, like any write-path failure.
            let _ = writer.poison_on_error("background merge", result);
            drop(writer);
            engine.merges.release(&job);
        }
        // Every flush up to `looking_at` has been looked at: nothing more to merge for them.
        let mut st = engine.merges.state.lock();
        st.seen = looking_at;
        engine.merges.changed.notify_all();
    }
}
