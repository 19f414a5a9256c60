//! The `splaredb` shell: scripted sessions through stdin compared with expected output (modes, errors, exit
//! codes, `-bail`, `-readonly`, one-shot commands, `.output`/`.read`), and the interactive prompt driven through a
//! pseudo-terminal. Uses the tiny BERT fixture model for speed (`--model`), and the default model for one real
//! multilingual search.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_splaredb");

fn tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny-bert")
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run splaredb");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A database with three documents: two texts (one with metadata) and one raw vector.
fn populated(dir: &Path) -> String {
    let db = dir.join("db");
    let docs = dir.join("docs.jsonl");
    std::fs::write(
        &docs,
        concat!(
            "{\"id\":\"a\",\"text\":\"the cat sat on the mat\"}\n",
            "{\"id\":\"b\",\"text\":\"stock markets fell sharply\",\"metadata\":{\"lang\":\"en\"}}\n",
            "\n",
            "{\"id\":\"v\",\"vector\":{\"3\":1.5,\"7\":0.5},\"text\":\"raw vector doc\"}\n",
        ),
    )
    .unwrap();
    let out =
        run(&["--model", tiny().to_str().unwrap(), db.to_str().unwrap()], &format!(".import {}\n", docs.display()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("imported 3 documents"), "{}", text(&out.stderr));
    db.to_str().unwrap().to_string()
}

#[test]
fn scripted_session_modes_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated(dir.path());
    let m = tiny();
    let script =
        ".mode csv\n.get b\n.mode json\n.vector {\"3\": 1.0}\n.mode line\n.get a\n.mode csv\n.headers off\n.get v\n";
    let out = run(&["--model", m.to_str().unwrap(), &db], script);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        concat!(
            "key,text,metadata,latents\n",
            "b,stock markets fell sharply,\"{\"\"lang\"\":\"\"en\"\"}\",32\n",
            "[{\"key\":\"v\",\"rank\":1,\"score\":1.5059,\"text\":\"raw vector doc\"}]\n",
            "     key = a\n    text = the cat sat on the mat\nmetadata = \n latents = 32\n",
            "v,raw vector doc,,2\n",
        )
    );
    // A text search prints ranked hits with scores and snippets; -json gives the same as JSON.
    let out = run(&["--model", m.to_str().unwrap(), "-json", &db, "the cat sat on the mat"], "");
    assert!(out.status.success());
    let hits: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 2, "the raw-vector document shares no latent with text queries here: {hits:?}");
    assert_eq!(hits[0]["rank"], 1);
    assert!(hits.iter().any(|h| h["key"] == "a" && h["text"] == "the cat sat on the mat"));
    assert!(hits[0]["score"].as_f64().unwrap() >= hits[1]["score"].as_f64().unwrap());
}

#[test]
fn errors_exit_codes_bail_and_readonly() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated(dir.path());
    let m = tiny();
    let m = m.to_str().unwrap();
    // Without -bail: the error is reported, later commands run, the exit code is 1.
    let out = run(&["--model", m, "-csv", &db], ".bogus\n.get zzz\n.get a\n");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("Error: unknown command \".bogus\"") && err.contains("Error: no document \"zzz\""), "{err}");
    assert!(text(&out.stdout).contains("a,the cat sat on the mat"));
    // With -bail: stops at the first error.
    let out = run(&["--model", m, "-csv", "-bail", &db], ".get zzz\n.get a\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stdout).contains("the cat"), "{}", text(&out.stdout));
    // One-shot commands; an error gives exit code 1.
    let out = run(&["--model", m, "-csv", &db, ".get a", ".get b"], "");
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).matches("key,text").count(), 2);
    assert_eq!(run(&["--model", m, &db, ".get nope"], "").status.code(), Some(1));
    // Read-only: reads work, writes are refused with a clear message.
    let out = run(&["--model", m, "-readonly", "-csv", &db], ".get a\n.delete a\n.import /dev/null\n.checkpoint\n");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert_eq!(err.matches("read-only").count(), 2, "{err}");
    assert!(text(&out.stdout).contains("a,the cat"));
    let out = run(&["--model", m, &db, ".get a"], "");
    assert!(out.status.success(), "the document survived the refused delete");
    // Bad usage.
    assert_eq!(run(&["-nosuchoption"], "").status.code(), Some(2));
    assert!(text(&run(&["--version"], "").stdout).starts_with("splaredb "));
    assert!(text(&run(&["--help"], "").stdout).contains("-readonly"));
    // Opening a missing database read-only fails; a model that does not fit fails at open.
    assert_eq!(run(&["-readonly", dir.path().join("missing").to_str().unwrap()], "").status.code(), Some(1));
    let xlmr = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny-xlmr");
    let out = run(&["--model", xlmr.to_str().unwrap(), &db, ".get a"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("model mismatch"), "{}", text(&out.stderr));
}

#[test]
fn inspection_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated(dir.path());
    let m = tiny();
    let m = m.to_str().unwrap();
    let out = run(
        &["--model", m, "-csv", &db],
        ".dbinfo\n.checkpoint\n.segments\n.latent 3\n.explain the cat sat\n.labels build\n.labels\n.doc a\n.check\n.compact\n.delete v\n.stats\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let o = text(&out.stdout);
    for needle in [
        "model,\"tiny-bert (weights ",
        "dims,256",
        "documents,3",
        "id,documents,deleted,nonzeros,bytes,postings,block metadata,latent directory,document store,document index,keys,key index",
        "latent,label,documents,postings,blocks,max_impact",
        "v,1.5000,raw vector doc",
        "query: ",
        "rank,key,score,top contributing latents",
        "database (.labels build),",
        "the cat sat on the mat\nlatent,weight,label\n",
        "problems,0",
        "documents,2",
    ] {
        assert!(o.contains(needle), "missing {needle:?} in:\n{o}");
    }
    assert!(o.contains("labelled "), "{o}");
    // Labels persist in the database.
    let out = run(&["--model", m, "-csv", &db, ".labels"], "");
    assert!(!text(&out.stdout).contains("database (.labels build),0"), "{}", text(&out.stdout));
}

#[test]
fn output_and_read_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated(dir.path());
    let m = tiny();
    let script = dir.path().join("script.txt");
    let out_file = dir.path().join("out.csv");
    std::fs::write(&script, format!(".mode csv\n.output {}\n.get a\n.output\n", out_file.display())).unwrap();
    let out = run(&["--model", m.to_str().unwrap(), &db], &format!(".read {}\n.mode csv\n.get b\n", script.display()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "key,text,metadata,latents\na,the cat sat on the mat,,32\n"
    );
    assert!(text(&out.stdout).contains("b,stock markets"));
    assert!(!text(&out.stdout).contains("a,the cat"));
}

#[test]
fn interactive_prompt_through_a_pty() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated(dir.path());
    let cmd = format!("{BIN} --model {} {db}", tiny().display());
    let mut p = rexpect::spawn(&cmd, Some(30_000)).expect("spawn in a pty");
    p.exp_string("splaredb> ").unwrap();
    p.send_line(".mode csv").unwrap();
    p.exp_string("splaredb> ").unwrap();
    p.send_line(".get a").unwrap();
    p.exp_string("a,the cat sat on the mat").unwrap();
    p.send_line(".bogus").unwrap();
    p.exp_string("Error: unknown command").unwrap();
    // The session survives errors.
    p.send_line("the cat sat").unwrap();
    p.exp_string("rank,key,score,text").unwrap();
    p.send_line(".quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn default_model_shell_search() {
    if common::model::default_model().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docs.txt");
    std::fs::write(
        &file,
        "Die Katze schläft auf dem Sofa.\nThe stock market crashed on Monday.\nO Brasil venceu a Copa do Mundo de 2002.\n",
    )
    .unwrap();
    let db = dir.path().join("db");
    let db = db.to_str().unwrap();
    // A new database gets the default model; plain text imports one document per line.
    let out = run(&["-csv", db], &format!(".import {}\n", file.display()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["-csv", db, ".search --k 1 a cat sleeping on the couch", "quem ganhou a copa de 2002?"], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let o = text(&out.stdout);
    assert!(o.contains("1,line-1,") && o.contains("1,line-3,"), "{o}");
}

#[test]
fn search_options_approx_cut_and_threads() {
    let dir = tempfile::tempdir().unwrap();
    let db = populated(dir.path());
    let m = tiny();
    let m = m.to_str().unwrap();
    let top_key = |args: &str| {
        let out = run(&["--model", m, "-csv", "-noheader", &db, args], "");
        assert!(out.status.success(), "{args}: {}", text(&out.stderr));
        text(&out.stdout).lines().next().unwrap_or_default().split(',').nth(1).unwrap_or_default().to_string()
    };
    let exact = top_key(".search --k 2 the cat sat on the mat");
    assert_eq!(exact, "a");
    assert_eq!(top_key(".search --k 2 --approx the cat sat on the mat"), exact);
    assert_eq!(top_key(".search --k 2 --candidates 5 the cat sat on the mat"), exact);
    assert_eq!(top_key(".search --k 2 --cut 0.2 --threads 2 the cat sat on the mat"), exact);
    for (bad, why) in [
        (".search --cut 1.5 cat", "--cut needs a fraction"),
        (".search --threads 0 cat", "--threads needs"),
        (".search --candidates 0 cat", "--candidates needs"),
    ] {
        let out = run(&["--model", m, &db, bad], "");
        assert!(!out.status.success(), "{bad} succeeded");
        assert!(text(&out.stderr).contains(why), "{bad}: {}", text(&out.stderr));
    }
}

#[test]
fn sync_without_the_python_bridge_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["sync", "db", "milvus-lite:x.db"])
        .env("SPLAREDB_PYTHON", dir.path().join("no-such-python"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("splaredb sync: cannot run") && err.contains("pip install"), "{err}");
    // An interpreter without the package: the import error is shown with the advice.
    let out = Command::new(BIN)
        .args(["export-bulk", "db", "out"])
        .env("SPLAREDB_PYTHON", "python3")
        .env("PYTHONPATH", dir.path())
        .env("PYTHONNOUSERSITE", "1")
        .output()
        .unwrap();
    if out.status.code() == Some(1) && text(&out.stderr).contains("cannot import splaredb.cluster") {
        assert!(text(&out.stderr).contains("pip install"));
    }
}

#[test]
fn model_labels_names_latents_from_texts_in_several_languages() {
    let dir = tempfile::tempdir().unwrap();
    let en = dir.path().join("en.jsonl");
    let de = dir.path().join("de.jsonl");
    std::fs::write(&en, "{\"text\": \"a real-time strategy game\", \"split\": \"train\"}\n{\"text\": \"a compression tool\", \"split\": \"test\"}\n").unwrap();
    std::fs::write(&de, "{\"title\": \"Spiel\", \"text\": \"ein Strategiespiel in Echtzeit\"}\n").unwrap();
    let out = dir.path().join("labels.tsv");
    let (en_arg, de_arg) = (format!("en={}", en.display()), format!("de={}", de.display()));
    let o = Command::new(BIN)
        .args(["model", "labels", tiny().to_str().unwrap(), "--texts", &en_arg, "--texts", &de_arg, "--split", "train"])
        .args(["--queries", &en_arg, "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let summary = text(&o.stdout);
    assert!(summary.contains("from 2 texts") && summary.contains("labels mix languages"), "{summary}");
    assert!(summary.contains("en queries (1)"), "{summary}");
    // The file is what the encoder reads back as the model's labels.
    let tsv = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<&str> = tsv.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        !rows.is_empty()
            && rows.iter().all(|r| r.split('\t').count() == 2 && r.split('\t').next().unwrap().parse::<u32>().is_ok())
    );

    std::fs::write(&de, "{\"text\": \"ok\"}\nnot json\n").unwrap();
    for (args, why) in [
        (vec!["--texts", "no-language.jsonl"], "expected LANG=FILE.jsonl"),
        (vec!["--texts", &de_arg], "line 2: not JSON"),
        (vec!["--texts", "en=/no/such/file.jsonl"], "/no/such/file.jsonl"),
    ] {
        let o = Command::new(BIN).args(["model", "labels", tiny().to_str().unwrap()]).args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(text(&o.stderr).contains(why), "{args:?}: {}", text(&o.stderr));
    }
}
