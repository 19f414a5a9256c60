//! Writes the C header `splaredb.h` to `$OUT_DIR` with cbindgen; tests/header.rs checks that the committed
//! `include/splaredb.h` equals it.

fn main() {
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml")).expect("bindings/c/cbindgen.toml");
    match cbindgen::generate_with_config(&crate_dir, config) {
        Ok(bindings) => {
            bindings.write_to_file(format!("{out_dir}/splaredb.h"));
        }
        Err(e) => panic!("cbindgen could not generate splaredb.h: {e}"),
    }
}
