//! The files of a database directory: every name the engine writes, its parsing and formatting, which files a
//! manifest no longer needs (orphans), the next unused file number, and the one way the small whole-file
//! records (`MANIFEST`, `MODEL`, `LABELS`) are replaced atomically. See format-spec.md, "Directory layout".
//!
//! Numbered files (WAL, segment, deletion files) share one counter (`Manifest::next_file_id`): a number is
//! never used twice in a directory's lifetime, so an interrupted operation's leftovers can never be confused
//! with a live file.

use crate::error::{Error, Result};
use crate::storage::Storage;

/// The manifest's file name.
pub(crate) const MANIFEST: &str = "MANIFEST";
/// The temporary name a new manifest is written under.
pub(crate) const MANIFEST_TMP: &str = "MANIFEST.tmp";
/// The model record's file name.
pub(crate) const MODEL: &str = "MODEL";
/// The temporary name a new model record is written under.
pub(crate) const MODEL_TMP: &str = "MODEL.tmp";
/// The latent labels' file name.
pub(crate) const LABELS: &str = "LABELS";
/// The temporary name new labels are written under.
pub(crate) const LABELS_TMP: &str = "LABELS.tmp";
/// The lock file a writer holds.
pub(crate) const LOCK: &str = "LOCK";

/// What a file name in a database directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `<number as 16 hex digits>.wal`
    Wal(u64),
    /// `<id as 16 hex digits>.seg`
    Segment(u64),
    /// `<segment id as 16 hex digits>-<generation as 8 hex digits>.del`
    Deletes { segment: u64, generation: u32 },
    /// `MANIFEST.tmp`, `MODEL.tmp`, `LABELS.tmp`: a replacement that did not finish.
    Temporary,
    /// `MANIFEST`, `MODEL`, `LABELS`, `LOCK`.
    Fixed,
    /// Anything else (left alone).
    Other,
}

impl FileKind {
    /// Classifies `name`.
    pub(crate) fn of(name: &str) -> FileKind {
        if let Some(n) = parse_numbered(name, ".wal") {
            return FileKind::Wal(n);
        }
        if let Some(n) = parse_numbered(name, ".seg") {
            return FileKind::Segment(n);
        }
        if let Some((segment, generation)) = parse_deletes(name) {
            return FileKind::Deletes { segment, generation };
        }
        match name {
            MANIFEST_TMP | MODEL_TMP | LABELS_TMP => FileKind::Temporary,
            MANIFEST | MODEL | LABELS | LOCK => FileKind::Fixed,
            _ => FileKind::Other,
        }
    }

    /// The file number this name uses up (WAL, segment and deletion files share the counter).
    pub(crate) fn number(self) -> Option<u64> {
        match self {
            FileKind::Wal(n) | FileKind::Segment(n) | FileKind::Deletes { segment: n, .. } => Some(n),
            _ => None,
        }
    }
}

/// The file name of WAL number `n`.
pub(crate) fn wal(n: u64) -> String {
    format!("{n:016x}.wal")
}

/// The file name of segment `id`.
pub(crate) fn segment(id: u64) -> String {
    format!("{id:016x}.seg")
}

/// The file name of generation `generation` of segment `segment`'s deletions.
pub(crate) fn deletes(segment: u64, generation: u32) -> String {
    format!("{segment:016x}-{generation:08x}.del")
}

fn parse_numbered(name: &str, suffix: &str) -> Option<u64> {
    crate::codec::parse_hex(name.strip_suffix(suffix)?, 16)
}

fn parse_deletes(name: &str) -> Option<(u64, u32)> {
    let (seg, generation) = name.strip_suffix(".del")?.split_once('-')?;
    Some((crate::codec::parse_hex(seg, 16)?, crate::codec::parse_hex(generation, 8)? as u32))
}

/// The number of a WAL file name, if it is one.
pub(crate) fn parse_wal(name: &str) -> Option<u64> {
    match FileKind::of(name) {
        FileKind::Wal(n) => Some(n),
        _ => None,
    }
}

/// The first file number above every number used by `names` and at least `floor`.
pub(crate) fn next_file_number(names: &[String], floor: u64) -> u64 {
    names.iter().filter_map(|n| FileKind::of(n).number()).fold(floor, |next, n| next.max(n.saturating_add(1)))
}

/// The names among `names` that hold database files (WAL, segment, deletion files).
pub(crate) fn database_files(names: &[String]) -> Vec<&String> {
    names.iter().filter(|n| FileKind::of(n).number().is_some()).collect()
}

/// The files among `names` that a manifest with live segments `live` (`(id, deletion generation)`) and log
/// number `log_number` does not need: segments and deletion files of unfinished flushes and merges, WAL files
/// below the log number, and temporary files of unfinished replacements.
pub(crate) fn orphans(names: &[String], live: &[(u64, u32)], log_number: u64) -> Vec<String> {
    let generation_of = |id: u64| live.iter().find(|(s, _)| *s == id).map(|&(_, g)| g);
    names
        .iter()
        .filter(|name| match FileKind::of(name) {
            FileKind::Segment(id) => generation_of(id).is_none(),
            FileKind::Deletes { segment, generation } => generation_of(segment) != Some(generation),
            FileKind::Wal(n) => n < log_number,
            FileKind::Temporary => true,
            FileKind::Fixed | FileKind::Other => false,
        })
        .cloned()
        .collect()
}

/// Atomically replaces `name` with `bytes`: written to `tmp`, synced, renamed over `name`, and the directory
/// synced (no syncs when `sync` is false). A reader sees the old or the new file, never a mix.
pub(crate) fn replace(storage: &dyn Storage, tmp: &str, name: &str, bytes: &[u8], sync: bool) -> Result<()> {
    let mut f = storage.create(tmp).map_err(|e| Error::io(tmp, "create", e))?;
    f.write_all(bytes).map_err(|e| Error::io(tmp, "write", e))?;
    if sync {
        f.sync().map_err(|e| Error::io(tmp, "sync", e))?;
    }
    drop(f);
    storage.rename(tmp, name).map_err(|e| Error::io(name, "rename", e))?;
    if sync {
        storage.sync_dir().map_err(|e| Error::io(storage.location(), "sync directory", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(FileKind::of(&wal(7)), FileKind::Wal(7));
        assert_eq!(FileKind::of(&segment(u64::MAX)), FileKind::Segment(u64::MAX));
        assert_eq!(FileKind::of(&deletes(3, 9)), FileKind::Deletes { segment: 3, generation: 9 });
        assert_eq!(FileKind::of("MANIFEST.tmp"), FileKind::Temporary);
        assert_eq!(FileKind::of("LOCK"), FileKind::Fixed);
        for other in ["7.wal", "000000000000000g.seg", "0000000000000001-1.del", "notes.txt"] {
            assert_eq!(FileKind::of(other), FileKind::Other, "{other}");
        }
    }

    #[test]
    fn orphans_and_numbers() {
        let names: Vec<String> = vec![
            wal(1),
            wal(4),
            segment(2),
            segment(3),
            deletes(2, 1),
            deletes(2, 2),
            "MODEL.tmp".into(),
            "LOCK".into(),
        ];
        assert_eq!(next_file_number(&names, 2), 5);
        assert_eq!(next_file_number(&names, 9), 9);
        let o = orphans(&names, &[(2, 2)], 4);
        assert_eq!(o, vec![wal(1), segment(3), deletes(2, 1), "MODEL.tmp".to_string()]);
    }
}
