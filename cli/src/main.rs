//! `splaredb`: a shell over a splaredb database, in the manner of the sqlite3 shell, and `splaredb model ...`
//! to manage encoder models.
//!
//! ```text
//! splaredb [OPTIONS] DB [COMMAND...]     open DB; run COMMANDs and exit, else read commands (prompt or stdin)
//! splaredb model import|info|encode|home ...
//! splaredb sync DB TARGET | splaredb export-bulk DB OUT_DIR   (the Python package's cluster bridge)
//! ```

mod labels_cmd;
mod model_cmd;
#[cfg(feature = "hub")]
mod pull_cmd;
mod render;
mod shell;
mod sync_cmd;

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use render::Mode;
use shell::{Flow, Shell};

const USAGE: &str = "\
Usage: splaredb [OPTIONS] DB [COMMAND ...]
       splaredb model import|info|encode|home ...   (manage encoder models; splaredb model --help)
       splaredb sync DB TARGET [--collection NAME]  (copy DB into Milvus/Qdrant: milvus://HOST:PORT,
                                                     milvus-lite:FILE.db, qdrant-edge:DIR; incremental)
       splaredb export-bulk DB OUT_DIR [--flavor opensearch|opensearch-seismic|elasticsearch]
       (sync and export-bulk run the Python package's splaredb.cluster: python3, or $SPLAREDB_PYTHON)

Opens the splaredb database in directory DB (created with the default model if new). With COMMANDs (a search
text or a dot-command each), runs them and exits; otherwise reads commands from the prompt, or from stdin when
it is not a terminal. A line not starting with '.' is a text search. .help lists the dot-commands.

Options:
  -readonly        open read-only (no lock; a writer may run beside it; writes are refused)
  -json            output mode json (also -csv, -line, -table)
  -header, -noheader   column headers on or off
  -cmd COMMAND     run COMMAND before the others (repeatable)
  -bail            stop at the first error
  --model DIR      use the model in DIR (or a model name in the cache) instead of the recorded one
  --version        print the version
  --help           this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("model") {
        return match model_cmd::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("splaredb: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match args.get(1).map(String::as_str) {
        Some("sync") => return sync_cmd::run("sync", &args[2..]),
        Some("export-bulk") => return sync_cmd::run("export", &args[2..]),
        _ => {}
    }
    let mut shell = Shell::new();
    let mut cmds: Vec<String> = Vec::new();
    let mut positional: Vec<String> = Vec::new();
    let mut it = args.into_iter().skip(1);
    while let Some(a) = it.next() {
        if !positional.is_empty() {
            positional.push(a);
            continue;
        }
        match a.trim_start_matches('-') {
            _ if !a.starts_with('-') => positional.push(a),
            "readonly" => shell.readonly = true,
            "json" => shell.mode = Mode::Json,
            "csv" => shell.mode = Mode::Csv,
            "line" => shell.mode = Mode::Line,
            "table" | "column" => shell.mode = Mode::Table,
            "header" | "headers" => shell.headers = true,
            "noheader" => shell.headers = false,
            "bail" => shell.bail = true,
            "cmd" => match it.next() {
                Some(c) => cmds.push(c),
                None => return usage_error("-cmd needs a COMMAND"),
            },
            "model" => match it.next() {
                Some(m) => {
                    shell.model_dir = Some(match splaredb::encoder::resolve_model(&m) {
                        Ok(d) => d,
                        Err(_) => PathBuf::from(m),
                    })
                }
                None => return usage_error("--model needs a DIR"),
            },
            "version" => {
                println!("splaredb {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            "help" | "h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => return usage_error(&format!("unknown option {a}")),
        }
    }
    let mut positional = positional.into_iter();
    let one_shot: Vec<String> = match positional.next() {
        Some(db) => {
            let readonly = shell.readonly;
            if let Err(e) = shell.open(std::path::Path::new(&db), readonly) {
                eprintln!("Error: cannot open {db}: {e}");
                return ExitCode::FAILURE;
            }
            positional.collect()
        }
        None => Vec::new(),
    };
    for c in &cmds {
        if shell.run_line(c) == Flow::Quit {
            return exit(&shell);
        }
    }
    if !one_shot.is_empty() {
        // One-shot: any error sets a non-zero exit code.
        for c in &one_shot {
            if shell.run_line(c) == Flow::Quit {
                break;
            }
        }
        return exit(&shell);
    }
    if std::io::stdin().is_terminal() {
        interactive(&mut shell);
        ExitCode::SUCCESS
    } else {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if shell.run_line(&line) == Flow::Quit {
                break;
            }
        }
        exit(&shell)
    }
}

fn exit(shell: &Shell) -> ExitCode {
    if shell.had_error {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("splaredb: {msg}\n\n{USAGE}");
    ExitCode::from(2)
}

/// The prompt: line editing and history (`~/.splaredb_history`); errors never end the session.
fn interactive(shell: &mut Shell) {
    println!("splaredb {} — .help for commands, a line of text to search, .quit to leave", env!("CARGO_PKG_VERSION"));
    let mut rl = match rustyline::DefaultEditor::new() {
        Ok(rl) => rl,
        Err(e) => {
            eprintln!("Error: no line editor ({e}); reading plain lines");
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if shell.run_line(&line) == Flow::Quit {
                    break;
                }
            }
            return;
        }
    };
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".splaredb_history"));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    loop {
        match rl.readline("splaredb> ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.add_history_entry(line.as_str());
                }
                // Errors are reported and the session goes on, -bail or not.
                let bail = std::mem::replace(&mut shell.bail, false);
                let flow = shell.run_line(&line);
                shell.bail = bail;
                if flow == Flow::Quit {
                    break;
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(_) => break,
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
}
