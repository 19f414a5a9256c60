//! The committed header `include/splaredb.h` is the one cbindgen generates from the source (build.rs).
//! `SPLAREDB_BLESS=1 cargo test -p splaredb-c --test header` rewrites it after an API change.

use std::path::Path;

#[test]
fn committed_header_is_current() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/splaredb.h"));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/splaredb.h");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == generated {
        return;
    }
    if std::env::var_os("SPLAREDB_BLESS").is_some() {
        std::fs::write(&path, generated).expect("writing include/splaredb.h");
        return;
    }
    panic!(
        "{} is not what cbindgen generates from the source; run SPLAREDB_BLESS=1 cargo test -p splaredb-c --test header",
        path.display()
    );
}
