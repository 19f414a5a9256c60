//! Process-kill test on the real file system: a child process commits in a loop and is killed with SIGKILL at
//! a random instant; the parent reopens the database and checks it against the child's log of acknowledged
//! commits (appended to a separate file after each `commit()` returns). Every acknowledged commit must be
//! there, the recovered keys must be a gap-free prefix of what the child attempted, and the integrity check
//! must pass. (A killed process keeps the operating system's page cache, so this tests process crashes in
//! both `Full` and `Normal` modes; power loss is covered by the crash-image tests.)

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use splaredb::{Database, Document, Durability, Options, SparseVector};

const DIMS: u32 = 1000;

fn vector(i: u64) -> SparseVector {
    SparseVector::from_pairs((0..20u64).map(|j| (((i * 31 + j * 97) % DIMS as u64) as u32, 0.5 + (j % 5) as f32)))
        .unwrap()
}

fn options(durability: Durability) -> Options {
    Options::with_dims(DIMS).durability(durability).memtable_size(200_000)
}

/// The child: commit forever, logging each acknowledged commit.
#[test]
fn kill_child() {
    let Some(dir) = std::env::var_os("SPLAREDB_KILL_DIR") else { return };
    let dir = Path::new(&dir);
    let durability = if std::env::var("SPLAREDB_KILL_MODE").as_deref() == Ok("full") {
        Durability::Full
    } else {
        Durability::Normal
    };
    let db = Database::open(dir.join("db"), options(durability)).unwrap();
    let mut next = db.read().len();
    let mut acks = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("acks")).unwrap();
    loop {
        let mut txn = db.begin_write().unwrap();
        for i in next..next + 3 {
            txn.insert(format!("k{i:08}"), Document::new(vector(i)).with_text(format!("text {i}"))).unwrap();
        }
        txn.commit().unwrap();
        next += 3;
        // One write call per line: a kill between the number and its newline would glue two lines together.
        acks.write_all(format!("{next}\n").as_bytes()).unwrap();
        if next.is_multiple_of(90) {
            db.checkpoint().unwrap();
        }
    }
}

#[test]
fn killed_writer_loses_no_acknowledged_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 12345u64;
    let mut last_len = 0u64;
    for round in 0..8 {
        let mode = if round % 2 == 0 { "full" } else { "normal" };
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "kill_child", "--nocapture"])
            .env("SPLAREDB_KILL_DIR", dir.path())
            .env("SPLAREDB_KILL_MODE", mode)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(150 + (seed >> 33) % 400));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let acked: u64 = std::fs::read_to_string(dir.path().join("acks"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .max()
            .unwrap_or(0);
        let db = Database::open(dir.path().join("db"), options(Durability::Full)).unwrap();
        let snap = db.read();
        let n = snap.len();
        assert!(n >= acked, "round {round} ({mode}): {n} documents but {acked} acknowledged");
        assert!(n >= last_len, "round {round}: documents went back from {last_len} to {n}");
        assert_eq!(n % 3, 0, "round {round}: a transaction was partly applied");
        for i in 0..n {
            let d = snap.get(format!("k{i:08}")).unwrap();
            assert_eq!(d.map(|d| d.vector), Some(vector(i)), "round {round}: k{i:08}");
        }
        assert!(snap.get(format!("k{n:08}")).unwrap().is_none());
        let report = db.check();
        assert!(report.is_ok(), "round {round}: {:?}", report.problems);
        eprintln!("round {round} ({mode}): {n} documents recovered, {acked} acknowledged");
        last_len = n;
    }
    assert!(last_len > 0, "the child made progress");
}
