//! Write transactions: begin, insert, delete, commit, rollback.

use std::ffi::{c_char, c_int};

use parking_lot::Mutex;
use splaredb::{Document, WriteTransaction};

use crate::codes::{bytes_arg, guard, opt_str_arg, str_arg, write_out, CResult, Failure};
use crate::db::{splaredb_db, vector_arg, DBS};
use crate::handles::{handle_ptr, Registry};

/// A write transaction (opaque).
pub struct splaredb_txn {
    _private: [u8; 0],
}

/// What a transaction handle refers to (taken out when it commits or rolls back).
pub struct TxnHandle {
    txn: Mutex<Option<WriteTransaction<'static>>>,
    /// The database handle it was begun on.
    db: u64,
}

pub(crate) static TXNS: Registry<TxnHandle> = Registry::new("transaction");

/// Begin flag: fail with `SPLAREDB_BUSY` instead of waiting when another write transaction is open.
pub const SPLAREDB_BEGIN_NOWAIT: c_int = 0x01;
/// Insert flag: replace the document under the key if there is one (else `SPLAREDB_CONSTRAINT`).
pub const SPLAREDB_UPSERT: c_int = 0x01;

/// Begins a write transaction in `*txn` (waiting for the one in progress unless `SPLAREDB_BEGIN_NOWAIT`). It
/// must end with `splaredb_commit` or `splaredb_rollback`, which free it.
#[no_mangle]
pub unsafe extern "C" fn splaredb_begin(db: *mut splaredb_db, flags: c_int, txn: *mut *mut splaredb_txn) -> c_int {
    guard(|| {
        if !txn.is_null() {
            txn.write(std::ptr::null_mut());
        }
        let handle = DBS.get(db)?;
        if flags & !SPLAREDB_BEGIN_NOWAIT != 0 {
            return Err(Failure::misuse(format!("unknown begin flags {:#x}", flags & !SPLAREDB_BEGIN_NOWAIT)));
        }
        if txn.is_null() {
            return Err(Failure::misuse("the output pointer txn is NULL"));
        }
        let t = if flags & SPLAREDB_BEGIN_NOWAIT != 0 {
            handle.db.try_begin_write_owned()?
        } else {
            handle.db.begin_write_owned()?
        };
        let id = TXNS.insert(TxnHandle { txn: Mutex::new(Some(t)), db: db as usize as u64 });
        write_out(txn, handle_ptr(id), "txn")
    })
}

/// Whether a write transaction begun on database handle `db` is still open.
pub(crate) fn has_open_transaction(db: u64) -> bool {
    TXNS.any(|t| t.db == db)
}

fn with_txn<T>(txn: *mut splaredb_txn, f: impl FnOnce(&mut WriteTransaction<'static>) -> CResult<T>) -> CResult<T> {
    let handle = TXNS.get(txn)?;
    let mut guard = handle.txn.lock();
    match guard.as_mut() {
        Some(t) => f(t),
        None => Err(Failure::misuse("the transaction is finished")),
    }
}

fn flags_upsert(flags: c_int) -> CResult<bool> {
    if flags & !SPLAREDB_UPSERT != 0 {
        return Err(Failure::misuse(format!("unknown insert flags {:#x}", flags & !SPLAREDB_UPSERT)));
    }
    Ok(flags & SPLAREDB_UPSERT != 0)
}

fn metadata(json: Option<&str>) -> CResult<Option<serde_json::Value>> {
    json.map(|j| serde_json::from_str(j).map_err(|e| Failure::invalid(format!("metadata is not JSON: {e}"))))
        .transpose()
}

/// Encodes `text` with the database's model and stores it under the key `key` (`key_len` bytes), with
/// optional `metadata_json` (NULL: none). `flags`: `SPLAREDB_UPSERT` or 0.
#[no_mangle]
pub unsafe extern "C" fn splaredb_insert_text(
    txn: *mut splaredb_txn,
    key: *const c_char,
    key_len: usize,
    text: *const c_char,
    metadata_json: *const c_char,
    flags: c_int,
) -> c_int {
    guard(|| {
        let key = bytes_arg(key, key_len, "key")?;
        let text = str_arg(text, "text")?;
        let metadata = metadata(opt_str_arg(metadata_json, "metadata_json")?)?;
        let upsert = flags_upsert(flags)?;
        with_txn(txn, |t| {
            if upsert {
                Ok(t.upsert_text_with(key, text, metadata)?)
            } else {
                Ok(t.insert_text_with(key, text, metadata)?)
            }
        })
    })
}

/// Stores a document given as a sparse vector (`nnz` ascending latent `ids` and their `weights`) under `key`,
/// with optional `text` and `metadata_json` (NULL: none). `flags`: `SPLAREDB_UPSERT` or 0.
#[no_mangle]
pub unsafe extern "C" fn splaredb_insert_vector(
    txn: *mut splaredb_txn,
    key: *const c_char,
    key_len: usize,
    ids: *const u32,
    weights: *const f32,
    nnz: usize,
    text: *const c_char,
    metadata_json: *const c_char,
    flags: c_int,
) -> c_int {
    guard(|| {
        let key = bytes_arg(key, key_len, "key")?;
        let mut doc = Document::new(vector_arg(ids, weights, nnz)?);
        doc.text = opt_str_arg(text, "text")?.map(str::to_string);
        doc.metadata = metadata(opt_str_arg(metadata_json, "metadata_json")?)?;
        let upsert = flags_upsert(flags)?;
        with_txn(txn, |t| if upsert { Ok(t.upsert(key, doc)?) } else { Ok(t.insert(key, doc)?) })
    })
}

/// Deletes the document under `key`; `*existed` (if not NULL) is set to 1 when there was one, else 0.
#[no_mangle]
pub unsafe extern "C" fn splaredb_delete(
    txn: *mut splaredb_txn,
    key: *const c_char,
    key_len: usize,
    existed: *mut c_int,
) -> c_int {
    guard(|| {
        let key = bytes_arg(key, key_len, "key")?;
        let found = with_txn(txn, |t| Ok(t.delete(key)?))?;
        if !existed.is_null() {
            existed.write(c_int::from(found));
        }
        Ok(())
    })
}

/// Commits and frees the transaction; `*seq` (if not NULL) receives its sequence number (0 when it wrote
/// nothing). The handle is dead afterwards, whether the commit succeeded or not.
#[no_mangle]
pub unsafe extern "C" fn splaredb_commit(txn: *mut splaredb_txn, seq: *mut u64) -> c_int {
    guard(|| {
        let handle = TXNS.remove(txn)?;
        let t = handle.txn.lock().take().ok_or_else(|| Failure::misuse("the transaction is finished"))?;
        let info = t.commit()?;
        if !seq.is_null() {
            seq.write(info.seq.unwrap_or(0));
        }
        Ok(())
    })
}

/// Discards the transaction's writes and frees it. Rolling back NULL is a no-op returning `SPLAREDB_OK`; a dead
/// handle gives `SPLAREDB_MISUSE`.
#[no_mangle]
pub unsafe extern "C" fn splaredb_rollback(txn: *mut splaredb_txn) -> c_int {
    if txn.is_null() {
        return crate::codes::SPLAREDB_OK;
    }
    guard(|| TXNS.remove(txn).map(|h| drop(h.txn.lock().take())))
}
