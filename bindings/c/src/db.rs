//! Databases: open, close, search, maintenance.

use std::ffi::{c_char, c_int};
use std::sync::Arc;

use splaredb::encoder::{resolve_model, Encoder, EncoderOptions};
use splaredb::{Database, Durability, Options, SearchOptions, SparseVector};

use crate::codes::{bytes_arg, guard, opt_str_arg, str_arg, write_out, CResult, Failure};
use crate::handles::{handle_ptr, Registry};
use crate::results::{splaredb_results, Results, RESULTS};

/// An open database (opaque).
pub struct splaredb_db {
    _private: [u8; 0],
}

/// What a database handle refers to.
pub struct DbHandle {
    pub(crate) db: Database,
}

pub(crate) static DBS: Registry<DbHandle> = Registry::new("database");

/// Open flag: read-only (no lock is taken; a writer process may run beside it; writes fail with
/// `SPLAREDB_READONLY`).
pub const SPLAREDB_OPEN_READONLY: c_int = 0x01;
/// Open flag: create the database when the directory holds none (else `SPLAREDB_NOTFOUND`).
pub const SPLAREDB_OPEN_CREATE: c_int = 0x04;
/// Open flag: no model (vector-only access; a new database then needs `dims`).
pub const SPLAREDB_OPEN_NO_MODEL: c_int = 0x08;
/// Open flag: fsync the WAL at every commit (durability "full"; the default is "normal").
pub const SPLAREDB_OPEN_FULL_SYNC: c_int = 0x10;
/// Open flag: never fsync (durability "off", for bulk loads that can be redone).
pub const SPLAREDB_OPEN_NO_SYNC: c_int = 0x20;

/// Search flag: return each hit's stored text and metadata (`splaredb_results_text`, `_metadata`).
pub const SPLAREDB_SEARCH_DOCUMENTS: c_int = 0x01;
/// Search flag: approximate search with each segment's approximate index (`SearchOptions::approximate`: 300
/// candidates re-ranked with their exact scores, as the shell's `--approx`).
pub const SPLAREDB_SEARCH_APPROX: c_int = 0x02;
/// Search flag: re-rank the hits with full-precision weights.
pub const SPLAREDB_SEARCH_RESCORE: c_int = 0x04;

const KNOWN_OPEN_FLAGS: c_int = SPLAREDB_OPEN_READONLY
    | SPLAREDB_OPEN_CREATE
    | SPLAREDB_OPEN_NO_MODEL
    | SPLAREDB_OPEN_FULL_SYNC
    | SPLAREDB_OPEN_NO_SYNC;
const KNOWN_SEARCH_FLAGS: c_int = SPLAREDB_SEARCH_DOCUMENTS | SPLAREDB_SEARCH_APPROX | SPLAREDB_SEARCH_RESCORE;

fn load(dir: &str) -> CResult<Arc<Encoder>> {
    let dir = resolve_model(dir)?;
    Ok(Arc::new(Encoder::load(&dir, &EncoderOptions::default())?))
}

fn open(path: &str, model: Option<&str>, flags: c_int, dims: u32) -> CResult<Database> {
    if flags & !KNOWN_OPEN_FLAGS != 0 {
        return Err(Failure::misuse(format!("unknown open flags {:#x}", flags & !KNOWN_OPEN_FLAGS)));
    }
    if flags & SPLAREDB_OPEN_FULL_SYNC != 0 && flags & SPLAREDB_OPEN_NO_SYNC != 0 {
        return Err(Failure::misuse("SPLAREDB_OPEN_FULL_SYNC and SPLAREDB_OPEN_NO_SYNC exclude each other"));
    }
    let read_only = flags & SPLAREDB_OPEN_READONLY != 0;
    let create = flags & SPLAREDB_OPEN_CREATE != 0;
    let encoder = match model {
        Some(_) if flags & SPLAREDB_OPEN_NO_MODEL != 0 => {
            return Err(Failure::misuse("a model was given with SPLAREDB_OPEN_NO_MODEL"));
        }
        Some(m) => Some(load(m)?),
        None if flags & SPLAREDB_OPEN_NO_MODEL != 0 => None,
        None => match Database::default_model_dir(path, create && !read_only)? {
            Some(dir) => Some(load(&dir.to_string_lossy())?),
            None => None,
        },
    };
    let mut options = match encoder {
        Some(e) => Options::with_encoder(e)?,
        None => Options::default(),
    };
    if dims != 0 {
        options.dims = Some(dims);
    }
    options.read_only = read_only;
    options.create_if_missing = create;
    if flags & SPLAREDB_OPEN_FULL_SYNC != 0 {
        options.durability = Durability::Full;
    } else if flags & SPLAREDB_OPEN_NO_SYNC != 0 {
        options.durability = Durability::Off;
    }
    Ok(Database::open(path, options)?)
}

/// Opens the database in directory `path`.
///
/// `model`: a model name in the model cache (`~/.cache/splaredb/models`, e.g. `"splare-e5-small-ft"`) or a
/// model directory; NULL uses the model the database records (a new database: the default model), unless
/// `SPLAREDB_OPEN_NO_MODEL`. `flags`: `SPLAREDB_OPEN_*` or-ed. `dims`: the latent count of a new vector-only
/// database (0: unspecified). On success `*db` is the handle, to be closed with `splaredb_close`; on failure it
/// is NULL.
#[no_mangle]
pub unsafe extern "C" fn splaredb_open(
    path: *const c_char,
    model: *const c_char,
    flags: c_int,
    dims: u32,
    db: *mut *mut splaredb_db,
) -> c_int {
    guard(|| {
        if !db.is_null() {
            db.write(std::ptr::null_mut());
        }
        let path = str_arg(path, "path")?;
        let model = opt_str_arg(model, "model")?;
        if db.is_null() {
            return Err(Failure::misuse("the output pointer db is NULL"));
        }
        let opened = open(path, model, flags, dims)?;
        let id = DBS.insert(DbHandle { db: opened });
        write_out(db, handle_ptr(id), "db")
    })
}

/// Closes a database: checkpoints it (writable handles) and releases its lock. While a write transaction
/// begun on it is open, it returns `SPLAREDB_BUSY` and the database stays open (as `sqlite3_close` with
/// unfinalized statements). Otherwise the handle is dead afterwards, even when an error is returned; closing it
/// again gives `SPLAREDB_MISUSE`.
#[no_mangle]
pub unsafe extern "C" fn splaredb_close(db: *mut splaredb_db) -> c_int {
    guard(|| {
        DBS.get(db)?;
        if crate::txn::has_open_transaction(db as usize as u64) {
            return Err(Failure::new(
                crate::codes::SPLAREDB_BUSY,
                "a write transaction of this database is open: commit or roll it back before closing",
            ));
        }
        let handle = DBS.remove(db)?;
        match Arc::try_unwrap(handle) {
            Ok(h) => Ok(h.db.close()?),
            // Another thread is inside a call on it: the database closes when that call returns.
            Err(_) => Ok(()),
        }
    })
}

/// Writes the in-memory table to a segment and truncates the WAL.
#[no_mangle]
pub unsafe extern "C" fn splaredb_checkpoint(db: *mut splaredb_db) -> c_int {
    guard(|| Ok(DBS.get(db)?.db.checkpoint()?))
}

/// Merges every segment into one, dropping deleted documents.
#[no_mangle]
pub unsafe extern "C" fn splaredb_compact(db: *mut splaredb_db) -> c_int {
    guard(|| Ok(DBS.get(db)?.db.compact()?))
}

/// `*count` = the number of live documents.
#[no_mangle]
pub unsafe extern "C" fn splaredb_count(db: *mut splaredb_db, count: *mut u64) -> c_int {
    guard(|| {
        let n = DBS.get(db)?.db.read().len();
        write_out(count, n, "count")
    })
}

/// `*dims` = the latent count of the database (vector ids must be below it).
#[no_mangle]
pub unsafe extern "C" fn splaredb_dims(db: *mut splaredb_db, dims: *mut u32) -> c_int {
    guard(|| {
        let d = DBS.get(db)?.db.dims();
        write_out(dims, d, "dims")
    })
}

/// Re-reads and verifies every file. `SPLAREDB_OK` when sound, else `SPLAREDB_CORRUPT` with the problems in
/// the message.
#[no_mangle]
pub unsafe extern "C" fn splaredb_check(db: *mut splaredb_db) -> c_int {
    guard(|| {
        let report = DBS.get(db)?.db.check();
        if report.is_ok() {
            Ok(())
        } else {
            Err(Failure::new(crate::codes::SPLAREDB_CORRUPT, report.problems.join("; ")))
        }
    })
}

fn options(k: usize, flags: c_int) -> CResult<SearchOptions> {
    if flags & !KNOWN_SEARCH_FLAGS != 0 {
        return Err(Failure::misuse(format!("unknown search flags {:#x}", flags & !KNOWN_SEARCH_FLAGS)));
    }
    let mut o = SearchOptions::top(k);
    o.with_documents = flags & SPLAREDB_SEARCH_DOCUMENTS != 0;
    o.rescore = flags & SPLAREDB_SEARCH_RESCORE != 0;
    if flags & SPLAREDB_SEARCH_APPROX != 0 {
        o = o.approximate();
    }
    Ok(o)
}

/// Encodes `query` with the database's model and returns its top-`k` documents in `*results` (free with
/// `splaredb_results_free`). `flags`: `SPLAREDB_SEARCH_*` or-ed. A blank query has no hits.
#[no_mangle]
pub unsafe extern "C" fn splaredb_search_text(
    db: *mut splaredb_db,
    query: *const c_char,
    k: usize,
    flags: c_int,
    results: *mut *mut splaredb_results,
) -> c_int {
    guard(|| {
        search_into(db, k, flags, results, |snapshot, opts| {
            Ok(snapshot.search_text_with(str_arg(query, "query")?, opts)?)
        })
    })
}

/// Runs a search on a snapshot of `db` and stores its hits as a new results handle in `*results`.
///
/// # Safety
/// `results` is NULL or valid for a write.
unsafe fn search_into(
    db: *mut splaredb_db,
    k: usize,
    flags: c_int,
    results: *mut *mut splaredb_results,
    search: impl FnOnce(&splaredb::Snapshot, &SearchOptions) -> CResult<Vec<splaredb::Hit>>,
) -> CResult {
    if !results.is_null() {
        results.write(std::ptr::null_mut());
    }
    let handle = DBS.get(db)?;
    let opts = options(k, flags)?;
    if results.is_null() {
        return Err(Failure::misuse("the output pointer results is NULL"));
    }
    let hits = search(&handle.db.read(), &opts)?;
    write_out(results, handle_ptr(RESULTS.insert(Results::new(hits))), "results")
}

/// A sparse vector from C arrays.
///
/// # Safety
/// `ids` and `weights` point to `nnz` values each (or are NULL with `nnz` 0).
pub(crate) unsafe fn vector_arg(ids: *const u32, weights: *const f32, nnz: usize) -> CResult<SparseVector> {
    let bytes = nnz.checked_mul(4).ok_or_else(|| Failure::misuse(format!("nnz {nnz} is too large")))?;
    let ids = bytes_arg(ids.cast(), bytes, "ids")?;
    let weights = bytes_arg(weights.cast(), bytes, "weights")?;
    let ids: Vec<u32> = ids.chunks_exact(4).map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
    let weights: Vec<f32> = weights.chunks_exact(4).map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect();
    SparseVector::new(ids, weights).map_err(|e| Failure::new(crate::codes::SPLAREDB_RANGE, e.to_string()))
}

/// Returns the top-`k` documents for a sparse query: `nnz` latent `ids` (ascending) and their `weights`.
#[no_mangle]
pub unsafe extern "C" fn splaredb_search_vector(
    db: *mut splaredb_db,
    ids: *const u32,
    weights: *const f32,
    nnz: usize,
    k: usize,
    flags: c_int,
    results: *mut *mut splaredb_results,
) -> c_int {
    guard(|| {
        search_into(db, k, flags, results, |snapshot, opts| {
            Ok(snapshot.search_with(&vector_arg(ids, weights, nnz)?, opts)?)
        })
    })
}
