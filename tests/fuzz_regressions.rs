//! Inputs that once crashed a fuzz target, replayed through the same entry points: each must now return
//! (with an error or success) instead of panicking. Files are `tests/fuzz_regressions/<target>-<what>.bin`.

#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let data = std::fs::read(&path).unwrap();
        match name.split('-').next().unwrap() {
            "wal_reader" => splaredb::fuzzing::wal(&data),
            "segment_reader" => splaredb::fuzzing::segment(&data),
            "manifest_reader" => splaredb::fuzzing::manifest(&data),
            other => panic!("unknown target {other} for {name}"),
        }
        replayed += 1;
    }
    assert!(replayed > 0);
}
