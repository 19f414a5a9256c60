//! `splaredb sync|export-bulk ...`: the cluster bridge, which lives in the Python package (`splaredb.cluster`:
//! the engines' clients are Python packages). The shell hands the arguments to
//! `python3 -m splaredb.cluster` and returns its exit status.

use std::process::{Command, ExitCode};

/// The interpreter that runs the bridge: `$SPLAREDB_PYTHON`, else `python3` on the PATH.
fn python() -> String {
    std::env::var("SPLAREDB_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Runs `python -m splaredb.cluster SUBCOMMAND ARGS...` (`sync`, `export`, `info`).
pub fn run(subcommand: &str, args: &[String]) -> ExitCode {
    let py = python();
    let probe = Command::new(&py).args(["-c", "import splaredb.cluster"]).output();
    match probe {
        Err(e) => {
            eprintln!("splaredb {subcommand}: cannot run {py} ({e}); the cluster bridge is the Python package: pip install './bindings/python[milvus,qdrant]' (SPLAREDB_PYTHON names another interpreter)");
            return ExitCode::FAILURE;
        }
        Ok(out) if !out.status.success() => {
            eprintln!(
                "splaredb {subcommand}: {py} cannot import splaredb.cluster; install the Python package: pip install './bindings/python[milvus,qdrant]' (SPLAREDB_PYTHON names another interpreter)\n{}",
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
            return ExitCode::FAILURE;
        }
        Ok(_) => {}
    }
    match Command::new(&py).args(["-m", "splaredb.cluster", subcommand]).args(args).status() {
        Ok(status) => match status.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!("splaredb {subcommand}: cannot run {py}: {e}");
            ExitCode::FAILURE
        }
    }
}
