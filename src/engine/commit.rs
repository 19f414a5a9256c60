//! The commit protocol: WAL append, apply to the next version, group fsync (`Durability::Full`), publish.

use std::sync::Arc;

use super::{Engine, WriterGuard};
use crate::error::{Error, Result};
use crate::op::Op;
use crate::options::Durability;
use crate::wal::{encode_txn, MAX_RECORD_LEN};

impl Engine {
    /// Commits `ops` (at most one per key) as one transaction under the writer lock `guard`, returning its
    /// sequence number. When the memtable is over its size, it is flushed first.
    ///
    /// With `Durability::Full` the WAL fsync happens after the writer lock is released (group commit: the next
    /// transaction proceeds meanwhile, and concurrent committers share fsyncs); the transaction is published,
    /// and this returns, once it is durable. If that fsync fails, the error is returned, the transaction is not
    /// published, and the handle refuses further writes.
    pub(crate) fn commit(&self, mut guard: WriterGuard, ops: Vec<Op>) -> Result<u64> {
        let writer = &mut *guard;
        self.check_writable(writer)?;
        if writer.latest.memtable.bytes() >= self.options.memtable_size {
            self.flush(writer)?;
        }
        let version = writer.latest.clone();
        let seq = version.seq + 1;
        let payload = encode_txn(seq, writer.wal.durable_offset(), &ops);
        if payload.len() > MAX_RECORD_LEN {
            return Err(Error::DocumentTooLarge {
                key: "(transaction)".into(),
                reason: format!("the transaction's log record of {} bytes exceeds {MAX_RECORD_LEN}", payload.len()),
            });
        }
        let appended = writer.wal.append(&payload);
        writer.poison_on_error("WAL write", appended)?;
        self.set_wal_len(writer.wal.len());
        let next = Arc::new(version.apply(seq, ops, &self.quantizer, &mut writer.dirty));
        writer.latest = next.clone();
        if self.options.durability == Durability::Full {
            let target = writer.wal.sync_target();
            drop(guard); // the next transaction may start while we fsync
            self.group_sync.wait_durable(&target)?;
        }
        self.publish(next, false);
        Ok(seq)
    }
}
