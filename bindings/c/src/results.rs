//! Search results: a hit list read by index, freed once.

use std::ffi::{c_char, c_int, CString};

use splaredb::Hit;

use crate::codes::{guard, write_out};
use crate::handles::Registry;

/// A list of search hits (opaque), best first.
pub struct splaredb_results {
    _private: [u8; 0],
}

/// One hit with its strings NUL-terminated for C.
struct CHit {
    key: Vec<u8>,
    key_c: CString,
    score: f32,
    text: Option<CString>,
    metadata: Option<CString>,
}

/// What a results handle refers to.
pub struct Results {
    hits: Vec<CHit>,
}

pub(crate) static RESULTS: Registry<Results> = Registry::new("results");

fn c_string(bytes: &[u8]) -> CString {
    // Interior NULs cannot appear in a C string; the key's exact bytes are available with their length.
    CString::new(bytes.iter().map(|&b| if b == 0 { b'?' } else { b }).collect::<Vec<u8>>()).unwrap_or_default()
}

impl Results {
    pub(crate) fn new(hits: Vec<Hit>) -> Self {
        let hits = hits
            .into_iter()
            .map(|h| {
                let (text, metadata) = match &h.document {
                    Some(d) => (
                        d.text.as_deref().map(|t| c_string(t.as_bytes())),
                        d.metadata.as_ref().map(|m| c_string(m.to_string().as_bytes())),
                    ),
                    None => (None, None),
                };
                CHit { key_c: c_string(&h.key), key: h.key, score: h.score, text, metadata }
            })
            .collect();
        Results { hits }
    }
}

/// The number of hits (0 for a NULL or dead handle).
#[no_mangle]
pub unsafe extern "C" fn splaredb_results_count(results: *const splaredb_results) -> usize {
    RESULTS.get(results).map(|r| r.hits.len()).unwrap_or(0)
}

/// The key of hit `i` as a NUL-terminated string; `*len` (if not NULL) receives the key's length in bytes. A
/// binary key's zero bytes read as `?` in the string. NULL when `i` is out of range or the handle is dead.
/// Valid until `splaredb_results_free`.
#[no_mangle]
pub unsafe extern "C" fn splaredb_results_key(
    results: *const splaredb_results,
    i: usize,
    len: *mut usize,
) -> *const c_char {
    let Ok(r) = RESULTS.get(results) else { return std::ptr::null() };
    let Some(hit) = r.hits.get(i) else { return std::ptr::null() };
    if !len.is_null() {
        len.write(hit.key.len());
    }
    hit.key_c.as_ptr()
}

/// The score of hit `i` (0 when out of range).
#[no_mangle]
pub unsafe extern "C" fn splaredb_results_score(results: *const splaredb_results, i: usize) -> f32 {
    RESULTS.get(results).ok().and_then(|r| r.hits.get(i).map(|h| h.score)).unwrap_or(0.0)
}

/// The stored text of hit `i` (searches with `SPLAREDB_SEARCH_DOCUMENTS`), or NULL. Valid until
/// `splaredb_results_free`.
#[no_mangle]
pub unsafe extern "C" fn splaredb_results_text(results: *const splaredb_results, i: usize) -> *const c_char {
    let Ok(r) = RESULTS.get(results) else { return std::ptr::null() };
    r.hits.get(i).and_then(|h| h.text.as_ref()).map_or(std::ptr::null(), |t| t.as_ptr())
}

/// The metadata of hit `i` as JSON text (searches with `SPLAREDB_SEARCH_DOCUMENTS`), or NULL. Valid until
/// `splaredb_results_free`.
#[no_mangle]
pub unsafe extern "C" fn splaredb_results_metadata(results: *const splaredb_results, i: usize) -> *const c_char {
    let Ok(r) = RESULTS.get(results) else { return std::ptr::null() };
    r.hits.get(i).and_then(|h| h.metadata.as_ref()).map_or(std::ptr::null(), |t| t.as_ptr())
}

/// Frees a result list. Freeing NULL is a no-op returning `SPLAREDB_OK` (as `free`); freeing twice gives
/// `SPLAREDB_MISUSE`.
#[no_mangle]
pub unsafe extern "C" fn splaredb_results_free(results: *mut splaredb_results) -> c_int {
    if results.is_null() {
        return crate::codes::SPLAREDB_OK;
    }
    guard(|| RESULTS.remove(results).map(drop))
}

/// `*count` = the number of hits, failing with `SPLAREDB_MISUSE` for a dead handle (where
/// `splaredb_results_count` answers 0).
#[no_mangle]
pub unsafe extern "C" fn splaredb_results_len(results: *const splaredb_results, count: *mut usize) -> c_int {
    guard(|| {
        let n = RESULTS.get(results)?.hits.len();
        write_out(count, n, "count")
    })
}
