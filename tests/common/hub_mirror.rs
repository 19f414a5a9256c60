//! A local Hugging Face Hub mirror for tests: an HTTP/1.1 server on 127.0.0.1 serving the two endpoints the
//! hub client uses — `GET /api/models/{repo}/revision/{rev}` (commit + file list) and
//! `GET /{repo}/resolve/{rev}/{file}` (ranged downloads with `x-repo-commit`, `etag` / `x-linked-etag`,
//! `content-range`) — from repositories built in memory, with faults to inject: a connection dropped mid-file,
//! a wrong checksum, a gated repository. Every request is logged. One thread per connection, each answered
//! with `Connection: close`; the server stops when dropped.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sha2::Digest;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Files at or above this size are served as LFS files (ETag = SHA-256), smaller ones as git blobs (SHA-1).
const LFS_FROM: usize = 1024;

struct Repo {
    commit: String,
    files: BTreeMap<String, Vec<u8>>,
}

#[derive(Default)]
struct State {
    repos: HashMap<String, Repo>,
    gated: HashMap<String, u16>,
    /// (repo, file) → bytes sent before the connection is dropped, and how many more times to do it.
    drops: HashMap<(String, String), (usize, usize)>,
    wrong_etag: Vec<(String, String)>,
    log: Vec<String>,
}

impl State {
    /// Repository `id` at `rev` (`main` or its commit), or the status and error code the Hub would answer.
    fn lookup(&self, id: &str, rev: &str) -> Result<&Repo, (u16, &'static str)> {
        if let Some(&s) = self.gated.get(id) {
            return Err((s, "GatedRepo"));
        }
        self.repos.get(id).filter(|r| rev == "main" || rev == r.commit).ok_or((404, "RevisionNotFound"))
    }
}

/// The running mirror.
pub struct Mirror {
    url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Mirror {
    /// Starts a mirror on a free port of 127.0.0.1.
    pub fn start() -> Mirror {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &s);
                });
            }
        });
        Mirror { url: format!("http://{addr}"), state, stop, addr, thread: Some(thread) }
    }

    /// The base URL, for `HF_ENDPOINT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Adds (or replaces) repository `id` with these files; its commit hash is derived from the contents.
    pub fn add_repo(&self, id: &str, files: Vec<(String, Vec<u8>)>) -> String {
        let mut h = sha1::Sha1::new();
        for (name, bytes) in &files {
            h.update(name.as_bytes());
            h.update(sha2::Sha256::digest(bytes));
        }
        let commit = hex(&h.finalize());
        let repo = Repo { commit: commit.clone(), files: files.into_iter().collect() };
        self.state.lock().unwrap().repos.insert(id.to_string(), repo);
        commit
    }

    /// Every file under `dir` (recursively), under `prefix/` in the repository, except those `skip` names.
    pub fn files_of(dir: &Path, prefix: &str, skip: &[&str]) -> Vec<(String, Vec<u8>)> {
        fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, Vec<u8>)>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
            entries.sort();
            for p in entries {
                let name = p.file_name().unwrap().to_str().unwrap().to_string();
                let r = if rel.is_empty() { name } else { format!("{rel}/{name}") };
                if p.is_dir() {
                    walk(&p, &r, out);
                } else {
                    out.push((r, std::fs::read(&p).unwrap()));
                }
            }
        }
        let mut out = vec![];
        walk(dir, prefix.trim_matches('/'), &mut out);
        out.retain(|(name, _)| !skip.iter().any(|s| name == s || name.ends_with(&format!("/{s}"))));
        out
    }

    /// Answers every request for repository `id` with `status` (401 or 403), as the Hub does for gated repos.
    pub fn gate(&self, id: &str, status: u16) {
        self.state.lock().unwrap().gated.insert(id.to_string(), status);
    }

    /// The next `times` downloads of `file` (not the one-byte probes) stop after `bytes` bytes.
    pub fn drop_after(&self, id: &str, file: &str, bytes: usize, times: usize) {
        self.state.lock().unwrap().drops.insert((id.to_string(), file.to_string()), (bytes, times));
    }

    /// Announces a wrong SHA-256 for `file`.
    pub fn wrong_checksum(&self, id: &str, file: &str) {
        self.state.lock().unwrap().wrong_etag.push((id.to_string(), file.to_string()));
    }

    /// The requests so far: `GET <path> <range or ->`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn respond(
    conn: &mut TcpStream,
    status: u16,
    reason: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers.iter().any(|(k, _)| k == "Content-Length") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

fn error(conn: &mut TcpStream, status: u16, code: &str) -> std::io::Result<()> {
    let body = format!("{{\"error\":\"{code}\"}}");
    let headers =
        vec![("X-Error-Code".to_string(), code.to_string()), ("Content-Type".into(), "application/json".into())];
    let reason = match status {
        401 => "Unauthorized",
        403 => "Forbidden",
        _ => "Not Found",
    };
    respond(conn, status, reason, &headers, body.as_bytes())
}

fn serve(mut conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("").to_string());
    state.lock().unwrap().log.push(format!("{method} {path} {}", range.as_deref().unwrap_or("-")));

    if let Some(rest) = path.strip_prefix("/api/models/") {
        let Some((repo, rev)) = rest.split_once("/revision/") else { return error(&mut conn, 404, "RepoNotFound") };
        let st = state.lock().unwrap();
        let r = match st.lookup(repo, rev) {
            Ok(r) => r,
            Err((status, code)) => {
                drop(st);
                return error(&mut conn, status, code);
            }
        };
        let siblings: Vec<String> = r.files.keys().map(|f| format!("{{\"rfilename\":{f:?}}}")).collect();
        let body = format!("{{\"id\":{repo:?},\"sha\":{:?},\"siblings\":[{}]}}", r.commit, siblings.join(","));
        drop(st);
        return respond(&mut conn, 200, "OK", &[("Content-Type".into(), "application/json".into())], body.as_bytes());
    }

    let Some((repo, rest)) = path[1..].split_once("/resolve/") else { return error(&mut conn, 404, "RepoNotFound") };
    let Some((rev, file)) = rest.split_once('/') else { return error(&mut conn, 404, "EntryNotFound") };
    let (bytes, commit, etag, drop_at) = {
        let mut st = state.lock().unwrap();
        let (bytes, commit) = match st.lookup(repo, rev) {
            Ok(r) => match r.files.get(file) {
                Some(b) => (b.clone(), r.commit.clone()),
                None => {
                    drop(st);
                    return error(&mut conn, 404, "EntryNotFound");
                }
            },
            Err((status, code)) => {
                drop(st);
                return error(&mut conn, status, code);
            }
        };
        let key = (repo.to_string(), file.to_string());
        let mut etag = if bytes.len() >= LFS_FROM {
            hex(&sha2::Sha256::digest(&bytes))
        } else {
            let mut h = sha1::Sha1::new();
            h.update(format!("blob {}\0", bytes.len()).as_bytes());
            h.update(&bytes);
            hex(&h.finalize())
        };
        if st.wrong_etag.contains(&key) {
            etag = hex(&sha2::Sha256::digest(b"not these bytes"));
        }
        let probe = range.as_deref() == Some("bytes=0-0");
        let drop_at = match st.drops.get_mut(&key) {
            Some((n, times)) if *times > 0 && !probe => {
                *times -= 1;
                Some(*n)
            }
            _ => None,
        };
        (bytes, commit, etag, drop_at)
    };
    let total = bytes.len();
    let (start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => {
            let (a, b) = r.split_once('-').unwrap_or((r, ""));
            let a: usize = a.parse().unwrap_or(0);
            let b: usize = if b.is_empty() { total.saturating_sub(1) } else { b.parse().unwrap_or(total - 1) };
            (a.min(total), (b + 1).min(total))
        }
        None => (0, total),
    };
    let body = &bytes[start..end.max(start)];
    let mut headers = vec![
        ("x-repo-commit".to_string(), commit),
        ("Content-Range".to_string(), format!("bytes {start}-{}/{total}", end.max(start + 1) - 1)),
        ("Content-Length".to_string(), body.len().to_string()),
    ];
    if total >= LFS_FROM {
        headers.push(("x-linked-etag".into(), format!("\"{etag}\"")));
        headers.push(("ETag".into(), format!("\"{etag}\"")));
    } else {
        headers.push(("ETag".into(), format!("\"{etag}\"")));
    }
    let status = if range.is_some() { (206, "Partial Content") } else { (200, "OK") };
    match drop_at {
        Some(n) if n < body.len() => {
            // Announce the whole range, send part of it, hang up.
            let mut head = format!("HTTP/1.1 {} {}\r\nConnection: close\r\n", status.0, status.1);
            for (k, v) in &headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            conn.write_all(head.as_bytes())?;
            conn.write_all(&body[..n])?;
            conn.flush()?;
            conn.shutdown(std::net::Shutdown::Both)
        }
        _ => respond(&mut conn, status.0, status.1, &headers, body),
    }
}
