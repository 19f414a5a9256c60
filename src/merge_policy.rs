//! The merge policy: a pure decision, given the live segments, of which ones to merge next.
//!
//! Tiered, like a log-structured merge: a segment's tier is `floor(log_F(live documents))` with `F =
//! segments_per_tier`; when a tier holds `F` segments they are merged into one (which lands about one tier
//! up), so each document is rewritten about `log_F(N)` times and the number of segments stays below
//! `F · (tiers + 1)`, i.e. O(log N). A segment whose deleted fraction exceeds `max_deleted_fraction` is
//! rewritten on its own to reclaim the space.

/// One live segment as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentStats {
    /// Documents written to the segment.
    pub documents: u32,
    /// Of those, deleted or replaced.
    pub deleted: u32,
}

/// Settings of the tiered merge policy (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct MergePolicy {
    /// Merge when a tier holds this many segments (at least 2; default 8).
    pub segments_per_tier: usize,
    /// Rewrite a segment alone when more than this fraction of its documents is deleted (default 0.3).
    pub max_deleted_fraction: f32,
}

impl Default for MergePolicy {
    fn default() -> Self {
        MergePolicy { segments_per_tier: 8, max_deleted_fraction: 0.3 }
    }
}

impl MergePolicy {
    /// The positions of the segments to merge next, if any (oldest first as given).
    pub fn candidates(&self, segments: &[SegmentStats]) -> Option<Vec<usize>> {
        let per_tier = self.segments_per_tier.max(2);
        let tier = |s: &SegmentStats| {
            let live = s.documents.saturating_sub(s.deleted).max(1) as f64;
            (live.ln() / (per_tier as f64).ln()).floor() as u32
        };
        let mut tiers: std::collections::BTreeMap<u32, Vec<usize>> = std::collections::BTreeMap::new();
        for (i, s) in segments.iter().enumerate() {
            tiers.entry(tier(s)).or_default().push(i);
        }
        if let Some(group) = tiers.values().find(|g| g.len() >= per_tier) {
            return Some(group[..per_tier].to_vec());
        }
        segments
            .iter()
            .position(|s| s.documents > 0 && s.deleted as f32 > self.max_deleted_fraction * s.documents as f32)
            .map(|i| vec![i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(documents: u32, deleted: u32) -> SegmentStats {
        SegmentStats { documents, deleted }
    }

    #[test]
    fn merges_a_full_tier_and_heavily_deleted_segments() {
        let p = MergePolicy { segments_per_tier: 4, max_deleted_fraction: 0.5 };
        assert_eq!(p.candidates(&[seg(10, 0), seg(12, 0), seg(100, 0)]), None);
        assert_eq!(p.candidates(&[seg(10, 0), seg(100, 0), seg(12, 0), seg(9, 0), seg(15, 0)]), Some(vec![0, 2, 3, 4]));
        assert_eq!(p.candidates(&[seg(1000, 600), seg(10, 0)]), Some(vec![0]));
        assert_eq!(p.candidates(&[]), None);
    }

    #[test]
    fn segment_count_stays_logarithmic() {
        // Simulate flushes of 100 documents with merging after each: the count stays O(log N).
        let p = MergePolicy::default();
        let mut segs: Vec<SegmentStats> = Vec::new();
        let mut max = 0;
        for _ in 0..20_000 {
            segs.push(seg(100, 0));
            while let Some(c) = p.candidates(&segs) {
                let merged: u32 = c.iter().map(|&i| segs[i].documents - segs[i].deleted).sum();
                let mut i = 0;
                segs.retain(|_| {
                    i += 1;
                    !c.contains(&(i - 1))
                });
                segs.push(seg(merged, 0));
            }
            max = max.max(segs.len());
        }
        // 2,000,000 documents: tiers 2..=6 of 8 segments at most.
        assert!(max <= 8 * 6, "{max} segments");
    }
}
