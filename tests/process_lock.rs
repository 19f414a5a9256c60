//! Locking across processes. Kept in its own test binary: spawning a child process briefly duplicates the
//! parent's file descriptors (until the child's exec), including other tests' lock files, which would make
//! lock tests running in parallel in the same process flaky.

use splaredb::{Database, Durability, Error, Options};

fn options() -> Options {
    Options::with_dims(1000).durability(Durability::Full)
}

#[test]
fn a_second_writer_process_gets_a_lock_error() {
    // The child is this test binary running the helper below, which tries to open the database.
    let dir = tempfile::tempdir().unwrap();
    let _db = Database::open(dir.path(), options()).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lock_probe_child", "--nocapture", "--include-ignored"])
        .env("SPLAREDB_LOCK_PROBE", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("PROBE: locked"), "child said: {stdout}");
}

#[test]
fn lock_probe_child() {
    if let Some(dir) = std::env::var_os("SPLAREDB_LOCK_PROBE") {
        match Database::open(&dir, options()) {
            Err(Error::Locked { .. }) => println!("PROBE: locked"),
            other => println!("PROBE: unexpected {other:?}"),
        }
    }
}
