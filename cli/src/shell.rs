//! The interactive shell and its commands (sqlite3 conventions: dot-commands, `.mode`, `.headers`, `.timer`,
//! `.output`, `.read`, `-bail`). A line that does not start with a dot is a text search.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use splaredb::encoder::labeling::LabelBuilder;
use splaredb::encoder::{resolve_model, Encoder, EncoderOptions, TextKind, DEFAULT_MODEL};
use splaredb::{Database, Document, ImportOptions, Options, SearchOptions, SparseVector, TextDocument};

use crate::render::{snippet, Cell, Mode, Table};

/// What the caller should do after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

pub struct Shell {
    db: Option<Database>,
    path: Option<PathBuf>,
    pub readonly: bool,
    pub model_dir: Option<PathBuf>,
    pub mode: Mode,
    pub headers: bool,
    timer: bool,
    pub bail: bool,
    out: Option<std::fs::File>,
    /// Set when a command failed (the exit code of a script or one-shot run).
    pub had_error: bool,
    /// Depth of nested `.read`s.
    depth: usize,
}

const HELP: &[(&str, &str)] = &[
    ("TEXT", "search: encode TEXT with the database's model and show the top hits"),
    (".open [-readonly] DB", "close the current database and open DB (created with the model if new)"),
    (
        ".import FILE",
        "import JSON Lines ({\"id\", \"text\", \"vector\"?, \"metadata\"?}) or plain text (one document a line)",
    ),
    (".get KEY", "show a document: text, metadata, number of latents"),
    (".doc KEY", "a document's text and its strongest latents with labels"),
    (".delete KEY", "delete a document"),
    (
        ".search [--k N] [--exact|--approx|--candidates N] [--cut F] [--threads N] TEXT",
        "text search: --approx uses each segment's approximate index (300 candidates re-ranked exactly; --candidates N sets them); --cut F leaves out query latents under F x the largest weight; --threads scores segments in parallel",
    ),
    (".vector JSON", "search with a sparse vector: {\"17\": 1.5, ...} or [[17, 1.5], ...]"),
    (".explain TEXT", "the query's latents (weights, labels) and, per hit, the latents that contributed most"),
    (".latent ID", "a latent's posting lists (length, blocks, max impact), label, and where it fires most"),
    (
        ".labels [build [N]|show ID...]",
        "latent labels: count and source; derive them from up to N documents; show some",
    ),
    (".stats | .dbinfo", "format, model, dims, documents, segments, WAL size, last commit"),
    (".segments", "per segment: documents, deleted, non-zeros, bytes by section"),
    (".check", "verify every file (checksums, structure, cross-references)"),
    (".compact", "merge all segments into one"),
    (".checkpoint", "flush the memtable to a segment and trim the WAL"),
    (".mode table|json|csv|line", "output format"),
    (".headers on|off", "column headers in table and csv modes"),
    (".timer on|off", "print the time each command takes"),
    (".bail on|off", "stop a script at the first error"),
    (".output [FILE]", "send output to FILE, or back to the terminal"),
    (".read FILE", "run the commands in FILE"),
    (".help [PATTERN]", "this list (the commands matching PATTERN)"),
    (".quit | .exit", "leave"),
];

/// Splits arguments on whitespace, honouring "double" and 'single' quotes.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut has = false;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                has = true;
            }
            None if c.is_whitespace() => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            None => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        out.push(cur);
    }
    out
}

fn on_off(arg: Option<&String>) -> Result<bool, String> {
    match arg.map(String::as_str) {
        Some("on") | Some("1") | Some("yes") => Ok(true),
        Some("off") | Some("0") | Some("no") => Ok(false),
        _ => Err("expected on or off".into()),
    }
}

/// Parses `{"17": 1.5}` / `[[17, 1.5]]` / `{"ids": [..], "weights": [..]}` into a sparse vector.
pub fn parse_vector(v: &serde_json::Value) -> Result<SparseVector, String> {
    let pairs: Vec<(u32, f32)> = match v {
        serde_json::Value::Object(m) if m.contains_key("ids") => {
            let ids = m["ids"].as_array().ok_or("ids must be an array")?;
            let ws = m.get("weights").and_then(|w| w.as_array()).ok_or("weights must be an array")?;
            if ids.len() != ws.len() {
                return Err(format!("{} ids but {} weights", ids.len(), ws.len()));
            }
            ids.iter()
                .zip(ws)
                .map(|(i, w)| {
                    Ok((
                        i.as_u64().ok_or("ids must be integers")? as u32,
                        w.as_f64().ok_or("weights must be numbers")? as f32,
                    ))
                })
                .collect::<Result<_, String>>()?
        }
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, w)| {
                let id = k.parse::<u32>().map_err(|_| format!("latent id {k:?} is not a non-negative integer"))?;
                Ok((id, w.as_f64().ok_or_else(|| format!("weight of {k} is not a number"))? as f32))
            })
            .collect::<Result<_, String>>()?,
        serde_json::Value::Array(a) => a
            .iter()
            .map(|p| {
                let p = p.as_array().filter(|p| p.len() == 2).ok_or("each entry must be [latent, weight]")?;
                Ok((
                    p[0].as_u64().ok_or("latent ids must be integers")? as u32,
                    p[1].as_f64().ok_or("weights must be numbers")? as f32,
                ))
            })
            .collect::<Result<_, String>>()?,
        _ => return Err("a vector is an object {\"latent\": weight} or an array [[latent, weight], ...]".into()),
    };
    let mut seen = std::collections::HashSet::new();
    if let Some((id, _)) = pairs.iter().find(|(id, _)| !seen.insert(*id)) {
        return Err(format!("latent {id} appears twice"));
    }
    SparseVector::from_pairs(pairs).map_err(|e| e.to_string())
}

fn key_cell(key: &[u8]) -> Cell {
    Cell::Text(String::from_utf8_lossy(key).into_owned())
}

/// Readable token text: SentencePiece `▁` and WordPiece `##` markers removed.
impl Shell {
    pub fn new() -> Shell {
        Shell {
            db: None,
            path: None,
            readonly: false,
            model_dir: None,
            mode: Mode::Table,
            headers: true,
            timer: false,
            bail: false,
            out: None,
            had_error: false,
            depth: 0,
        }
    }

    fn print(&mut self, s: &str) {
        match &mut self.out {
            Some(f) => {
                let _ = f.write_all(s.as_bytes());
            }
            None => {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(s.as_bytes());
                let _ = o.flush();
            }
        }
    }

    fn show(&mut self, t: &Table) {
        let s = t.render(self.mode, self.headers);
        self.print(&s);
    }

    fn db(&self) -> Result<&Database, String> {
        self.db.as_ref().ok_or_else(|| "no database is open (use .open DB)".to_string())
    }

    fn encoder(&self) -> Result<Arc<Encoder>, String> {
        self.db()?.encoder().cloned().ok_or_else(|| {
            "no model: this database was opened without one (its model is not installed, or it holds raw vectors); \
             use --model DIR, or .vector for vector search"
                .to_string()
        })
    }

    fn load_model(dir: &Path) -> Result<Arc<Encoder>, String> {
        Encoder::load(dir, &EncoderOptions::default()).map(Arc::new).map_err(|e| e.to_string())
    }

    /// Opens `path`: with `--model` when given; else with the model the database records (from the model
    /// cache); a new database is created with the default model.
    pub fn open(&mut self, path: &Path, readonly: bool) -> Result<(), String> {
        self.db = None;
        let exists = path.join("MANIFEST").is_file();
        let base = Options { read_only: readonly, create_if_missing: false, ..Options::default() };
        let mut warn = None;
        let encoder = if let Some(dir) = &self.model_dir {
            Some(Self::load_model(dir)?)
        } else if exists {
            let plain = Database::open(path, base.clone()).map_err(|e| e.to_string())?;
            let record = plain.model().map_err(|e| e.to_string())?;
            let empty = plain.read().is_empty();
            drop(plain);
            match record {
                Some(r) => match resolve_model(&r.name) {
                    Ok(dir) => Some(Self::load_model(&dir)?),
                    Err(_) => {
                        warn = Some(format!("model {} is not installed: text search is off (use --model DIR)", r.name));
                        None
                    }
                },
                None if empty && !readonly => {
                    resolve_model(DEFAULT_MODEL).ok().map(|d| Self::load_model(&d)).transpose()?
                }
                None => None,
            }
        } else {
            if readonly {
                return Err(format!("no splaredb database at {} (read-only: not creating one)", path.display()));
            }
            let dir = resolve_model(DEFAULT_MODEL).map_err(|e| {
                format!("a new database needs a model: pass --model DIR or install {DEFAULT_MODEL} (tools/setup-models.sh): {e}")
            })?;
            Some(Self::load_model(&dir)?)
        };
        let options = match &encoder {
            Some(enc) => Options {
                read_only: readonly,
                create_if_missing: !exists,
                ..Options::with_encoder(enc.clone()).map_err(|e| e.to_string())?
            },
            None => base,
        };
        let db = match Database::open(path, options) {
            Ok(db) => db,
            Err(e @ splaredb::Error::ModelMismatch { .. }) if self.model_dir.is_none() => {
                warn = Some(format!("{e}; text search is off"));
                Database::open(path, Options { read_only: readonly, ..Options::default() })
                    .map_err(|e| e.to_string())?
            }
            Err(e) => return Err(e.to_string()),
        };
        if let Some(w) = warn {
            eprintln!("warning: {w}");
        }
        self.db = Some(db);
        self.path = Some(path.to_path_buf());
        self.readonly = readonly;
        Ok(())
    }

    /// Runs one line; errors are printed and recorded, and stop the shell only with `-bail`.
    pub fn run_line(&mut self, line: &str) -> Flow {
        let t = Instant::now();
        let result = self.execute(line);
        if self.timer && !line.trim().is_empty() {
            eprintln!("Run Time: {:.3} s", t.elapsed().as_secs_f64());
        }
        match result {
            Ok(flow) => flow,
            Err(e) => {
                eprintln!("Error: {e}");
                self.had_error = true;
                if self.bail {
                    Flow::Quit
                } else {
                    Flow::Continue
                }
            }
        }
    }

    pub fn execute(&mut self, line: &str) -> Result<Flow, String> {
        let line = line.trim();
        if line.is_empty() || line.starts_with("--") {
            return Ok(Flow::Continue);
        }
        if !line.starts_with('.') {
            self.search(line, 10)?;
            return Ok(Flow::Continue);
        }
        let (cmd, rest) = match line.find(char::is_whitespace) {
            Some(i) => (&line[..i], line[i..].trim()),
            None => (line, ""),
        };
        let args = split_args(rest);
        let arg = |i: usize| args.get(i).ok_or_else(|| format!("{cmd}: missing argument (see .help {})", &cmd[1..]));
        match cmd {
            ".quit" | ".exit" => return Ok(Flow::Quit),
            ".help" => self.help(args.first().map(String::as_str)),
            ".open" => {
                let readonly = args.iter().any(|a| a == "-readonly" || a == "--readonly");
                let path = args.iter().find(|a| !a.starts_with('-')).ok_or(".open: missing DB")?;
                self.open(Path::new(path), readonly)?;
            }
            ".mode" => {
                self.mode = Mode::parse(arg(0)?)
                    .ok_or_else(|| format!("unknown mode {:?} (table, json, csv, line)", args[0]))?
            }
            ".headers" => self.headers = on_off(args.first())?,
            ".timer" => self.timer = on_off(args.first())?,
            ".bail" => self.bail = on_off(args.first())?,
            ".output" => {
                self.out = match args.first() {
                    None => None,
                    Some(p) => Some(std::fs::File::create(p).map_err(|e| format!("cannot write {p}: {e}"))?),
                }
            }
            ".read" => {
                let p = arg(0)?.clone();
                if self.depth > 16 {
                    return Err(".read nested too deeply".into());
                }
                let text = std::fs::read_to_string(&p).map_err(|e| format!("cannot read {p}: {e}"))?;
                self.depth += 1;
                for l in text.lines() {
                    if self.run_line(l) == Flow::Quit {
                        self.depth -= 1;
                        return Ok(Flow::Quit);
                    }
                }
                self.depth -= 1;
            }
            ".get" => self.get(arg(0)?)?,
            ".doc" => self.doc(arg(0)?)?,
            ".delete" => {
                let key = arg(0)?.clone();
                let mut txn = self.db()?.begin_write().map_err(|e| e.to_string())?;
                let existed = txn.delete(&key).map_err(|e| e.to_string())?;
                txn.commit().map_err(|e| e.to_string())?;
                if !existed {
                    return Err(format!("no document {key:?}"));
                }
            }
            ".search" => {
                let mut k = 10;
                let mut cut = 0.0f32;
                let mut approx = None;
                let mut threads = 1;
                let mut words = Vec::new();
                let mut it = args.iter();
                while let Some(a) = it.next() {
                    match a.as_str() {
                        "--k" | "-k" => {
                            k = it
                                .next()
                                .and_then(|v| v.parse().ok())
                                .filter(|&k| k > 0)
                                .ok_or("--k needs a positive number")?
                        }
                        "--exact" => {
                            cut = 0.0;
                            approx = None;
                        }
                        "--approx" => approx = Some(SearchOptions::DEFAULT_CANDIDATES),
                        "--candidates" => {
                            approx = Some(
                                it.next()
                                    .and_then(|v| v.parse().ok())
                                    .filter(|&n| n > 0)
                                    .ok_or("--candidates needs a positive number")?,
                            )
                        }
                        "--cut" => {
                            cut = it
                                .next()
                                .and_then(|v| v.parse().ok())
                                .filter(|c: &f32| (0.0..1.0).contains(c))
                                .ok_or("--cut needs a fraction in [0, 1)")?
                        }
                        "--threads" => {
                            threads = it
                                .next()
                                .and_then(|v| v.parse().ok())
                                .filter(|&n| n > 0)
                                .ok_or("--threads needs a positive number")?
                        }
                        _ => words.push(a.clone()),
                    }
                }
                if words.is_empty() {
                    return Err(".search: missing TEXT".into());
                }
                let mut options = SearchOptions::top(k).with_documents().query_cut(cut).threads(threads);
                options.approx = approx;
                self.search_with(&words.join(" "), &options)?;
            }
            ".vector" => {
                let v: serde_json::Value = serde_json::from_str(rest).map_err(|e| format!("not JSON: {e}"))?;
                let q = parse_vector(&v)?;
                let hits = self
                    .db()?
                    .read()
                    .search_with(&q, &SearchOptions::top(10).with_documents())
                    .map_err(|e| e.to_string())?;
                self.hits_table(hits);
            }
            ".explain" => self.explain(rest)?,
            ".latent" => {
                let id: u32 = arg(0)?.parse().map_err(|_| "latent id must be a non-negative integer")?;
                self.latent(id)?;
            }
            ".labels" => self.labels(&args)?,
            ".import" => self.import(arg(0)?)?,
            ".stats" | ".dbinfo" => self.dbinfo()?,
            ".segments" => self.segments()?,
            ".check" => {
                let r = self.db()?.check();
                let mut t = Table::new(&["check", "value"]);
                t.push(vec!["segments".into(), r.segments.into()]);
                t.push(vec!["documents".into(), r.documents.into()]);
                t.push(vec!["postings".into(), r.postings.into()]);
                t.push(vec!["stored documents".into(), r.stored_documents.into()]);
                t.push(vec!["wal records".into(), r.wal_records.into()]);
                t.push(vec!["problems".into(), r.problems.len().into()]);
                for p in &r.problems {
                    t.push(vec!["problem".into(), p.clone().into()]);
                }
                self.show(&t);
                if !r.is_ok() {
                    return Err(format!("{} problem(s) found", r.problems.len()));
                }
            }
            ".compact" => self.db()?.compact().map_err(|e| e.to_string())?,
            ".checkpoint" => self.db()?.checkpoint().map_err(|e| e.to_string())?,
            _ => return Err(format!("unknown command {cmd:?}; .help lists the commands")),
        }
        Ok(Flow::Continue)
    }

    fn help(&mut self, pattern: Option<&str>) {
        let mut s = String::new();
        for (c, d) in HELP {
            if pattern.is_none_or(|p| c.contains(p) || d.contains(p)) {
                s.push_str(&format!("{c:<42} {d}\n"));
            }
        }
        self.print(&s);
    }

    fn hits_table(&mut self, hits: Vec<splaredb::Hit>) {
        let mut t = Table::new(&["rank", "key", "score", "text"]);
        for (i, h) in hits.into_iter().enumerate() {
            let text = h.document.as_ref().and_then(|d| d.text.as_deref()).map(|s| snippet(s, 80));
            t.push(vec![
                (i + 1).into(),
                key_cell(&h.key),
                Cell::Float(h.score as f64, 4),
                text.map(Cell::Text).unwrap_or(Cell::Null),
            ]);
        }
        self.show(&t);
    }

    fn search(&mut self, text: &str, k: usize) -> Result<(), String> {
        self.search_with(text, &SearchOptions::top(k).with_documents())
    }

    fn search_with(&mut self, text: &str, options: &SearchOptions) -> Result<(), String> {
        self.encoder()?;
        let hits = self.db()?.read().search_text_with(text, options).map_err(|e| e.to_string())?;
        self.hits_table(hits);
        Ok(())
    }

    fn document(&self, key: &str) -> Result<Document, String> {
        self.db()?.read().get(key).map_err(|e| e.to_string())?.ok_or_else(|| format!("no document {key:?}"))
    }

    fn get(&mut self, key: &str) -> Result<(), String> {
        let d = self.document(key)?;
        let mut t = Table::new(&["key", "text", "metadata", "latents"]);
        t.push(vec![
            key.into(),
            d.text.map(Cell::Text).unwrap_or(Cell::Null),
            d.metadata.map(|m| Cell::Text(m.to_string())).unwrap_or(Cell::Null),
            d.vector.nnz().into(),
        ]);
        self.show(&t);
        Ok(())
    }

    /// Labels: the model's `labels.tsv` first, else the database's corpus-derived ones.
    fn label_map(&self) -> Result<BTreeMap<u32, String>, String> {
        let mut labels = self.db()?.labels().map_err(|e| e.to_string())?;
        if let Some(enc) = self.db()?.encoder() {
            for (id, l) in enc.labels() {
                labels.insert(*id, l.clone());
            }
        }
        Ok(labels)
    }

    fn doc(&mut self, key: &str) -> Result<(), String> {
        let d = self.document(key)?;
        let labels = self.label_map()?;
        self.print(&format!("{}\n", d.text.as_deref().unwrap_or("(no text)")));
        let mut entries: Vec<(u32, f32)> = d.vector.iter().collect();
        entries.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut t = Table::new(&["latent", "weight", "label"]);
        for (id, w) in entries.into_iter().take(20) {
            t.push(vec![
                id.into(),
                Cell::Float(w as f64, 4),
                labels.get(&id).cloned().map(Cell::Text).unwrap_or(Cell::Null),
            ]);
        }
        self.show(&t);
        Ok(())
    }

    fn explain(&mut self, text: &str) -> Result<(), String> {
        if text.is_empty() {
            return Err(".explain: missing TEXT".into());
        }
        let enc = self.encoder()?;
        let labels = self.label_map()?;
        let q = match enc.encode_query(text) {
            Ok(q) => q,
            Err(splaredb::encoder::EncoderError::NoContent { .. }) => return Err("the query encodes to nothing".into()),
            Err(e) => return Err(e.to_string()),
        };
        let mut entries: Vec<(u32, f32)> = q.iter().collect();
        entries.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut t = Table::new(&["latent", "weight", "label"]);
        for &(id, w) in &entries {
            t.push(vec![
                id.into(),
                Cell::Float(w as f64, 4),
                labels.get(&id).cloned().map(Cell::Text).unwrap_or(Cell::Null),
            ]);
        }
        self.print(&format!("query: {} latents\n", q.nnz()));
        self.show(&t);
        let hits =
            self.db()?.read().search_with(&q, &SearchOptions::top(5).with_documents()).map_err(|e| e.to_string())?;
        let mut t = Table::new(&[
            "rank",
            "key",
            "score",
            "top contributing latents (latent label: query weight × document weight)",
        ]);
        for (i, h) in hits.iter().enumerate() {
            let d = h.document.as_ref().ok_or("hit without its document")?;
            let mut contrib: Vec<(u32, f32, f32)> = q
                .iter()
                .filter_map(|(id, qw)| d.vector.ids().binary_search(&id).ok().map(|j| (id, qw, d.vector.weights()[j])))
                .collect();
            contrib.sort_by(|a, b| (b.1 * b.2).total_cmp(&(a.1 * a.2)).then(a.0.cmp(&b.0)));
            let parts: Vec<String> = contrib
                .iter()
                .take(5)
                .map(|(id, qw, dw)| {
                    let l = labels.get(id).map(|l| format!(" {l}")).unwrap_or_default();
                    format!("{id}{l}: {qw:.2}×{dw:.2}")
                })
                .collect();
            t.push(vec![(i + 1).into(), key_cell(&h.key), Cell::Float(h.score as f64, 4), parts.join("; ").into()]);
        }
        self.show(&t);
        Ok(())
    }

    fn latent(&mut self, id: u32) -> Result<(), String> {
        let db = self.db()?;
        if id >= db.dims() {
            return Err(format!("latent {id} is outside this database's {} dimensions", db.dims()));
        }
        let info = db.read().latent_info(id, 10).map_err(|e| e.to_string())?;
        let label = self.label_map()?.get(&id).cloned();
        let mut t = Table::new(&["latent", "label", "documents", "postings", "blocks", "max_impact"]);
        t.push(vec![
            id.into(),
            label.map(Cell::Text).unwrap_or(Cell::Null),
            info.documents.into(),
            info.postings.into(),
            info.blocks.into(),
            Cell::Float(info.max_impact as f64, 4),
        ]);
        self.show(&t);
        let snap = self.db()?.read();
        let mut t = Table::new(&["key", "weight", "text"]);
        for (key, w) in info.top {
            let text = snap.get(&key).map_err(|e| e.to_string())?.and_then(|d| d.text).map(|s| snippet(&s, 70));
            t.push(vec![key_cell(&key), Cell::Float(w as f64, 4), text.map(Cell::Text).unwrap_or(Cell::Null)]);
        }
        self.show(&t);
        Ok(())
    }

    fn labels(&mut self, args: &[String]) -> Result<(), String> {
        match args.first().map(String::as_str) {
            None => {
                let db_labels = self.db()?.labels().map_err(|e| e.to_string())?.len();
                let model_labels = self.db()?.encoder().map(|e| e.labels().len()).unwrap_or(0);
                let mut t = Table::new(&["source", "labels"]);
                t.push(vec!["model (labels.tsv)".into(), model_labels.into()]);
                t.push(vec!["database (.labels build)".into(), db_labels.into()]);
                self.show(&t);
            }
            Some("show") => {
                let labels = self.label_map()?;
                let mut t = Table::new(&["latent", "label"]);
                for a in &args[1..] {
                    let id: u32 = a.parse().map_err(|_| format!("{a:?} is not a latent id"))?;
                    t.push(vec![id.into(), labels.get(&id).cloned().map(Cell::Text).unwrap_or(Cell::Null)]);
                }
                self.show(&t);
            }
            Some("build") => {
                let limit: usize = match args.get(1) {
                    Some(n) => n.parse().map_err(|_| "build N: N must be a number")?,
                    None => 2000,
                };
                let n = self.build_labels(limit)?;
                self.print(&format!("labelled {n} latents\n"));
            }
            Some(other) => return Err(format!(".labels: unknown subcommand {other:?} (build, show)")),
        }
        Ok(())
    }

    /// Derives a label for every latent that fires in up to `limit` documents: the (cleaned) tokens that
    /// activate it most, up to three distinct ones, strongest first. Documents go through the encoder in
    /// batches of 16.
    fn build_labels(&mut self, limit: usize) -> Result<usize, String> {
        let enc = self.encoder()?;
        let snap = self.db()?.read();
        let keys = snap.keys();
        let bar = indicatif::ProgressBar::new(keys.len().min(limit) as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("labels {bar:30} {pos}/{len} documents {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let mut builder = LabelBuilder::new();
        for chunk in keys.iter().take(limit).collect::<Vec<_>>().chunks(16) {
            let mut texts = Vec::with_capacity(chunk.len());
            for key in chunk {
                if let Some(text) = snap.get(key).map_err(|e| e.to_string())?.and_then(|d| d.text) {
                    if !text.trim().is_empty() {
                        texts.push(text);
                    }
                }
            }
            let max = enc.config().max_length;
            for tokens in enc.token_activations_batch(&texts, TextKind::Document, max).map_err(|e| e.to_string())? {
                builder.add(&tokens, 0);
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let labels: BTreeMap<u32, String> = builder.labels().into_iter().map(|(id, l)| (id, l.text())).collect();
        self.db()?.set_labels(&labels).map_err(|e| e.to_string())?;
        Ok(labels.len())
    }

    fn dbinfo(&mut self) -> Result<(), String> {
        let db = self.db()?;
        let info = db.info();
        let model = db.model().map_err(|e| e.to_string())?;
        let mut t = Table::new(&["property", "value"]);
        let mut row = |k: &str, v: Cell| t.push(vec![k.into(), v]);
        row("path", self.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default().into());
        row("format versions", "wal 1, segment 1, manifest 1, deletes 1, model 1, labels 1".into());
        row("model", model.map(|m| m.describe()).map(Cell::Text).unwrap_or(Cell::Null));
        row("model loaded", db.encoder().map(|e| format!("yes ({})", e.device_name())).unwrap_or("no".into()).into());
        row("dims", info.dims.into());
        row("documents", info.documents.into());
        row("segments", info.segments.into());
        row("memtable bytes", info.memtable_bytes.into());
        row("wal bytes", info.wal_bytes.map(Cell::from).unwrap_or(Cell::Null));
        row("last commit", info.last_seq.into());
        row("flushed up to", info.flushed_seq.into());
        row("read-only", if info.read_only { "yes" } else { "no" }.into());
        row("labels", db.labels().map_err(|e| e.to_string())?.len().into());
        self.show(&t);
        Ok(())
    }

    fn segments(&mut self) -> Result<(), String> {
        let segs = self.db()?.segments();
        let mut cols = vec!["id", "documents", "deleted", "nonzeros", "bytes"];
        let names: &[&str] = if segs.is_empty() { &[] } else { &splaredb::SectionSizes::NAMES };
        cols.extend(names.iter());
        let mut t = Table::new(&cols);
        for s in segs {
            let mut row: Vec<Cell> = vec![
                format!("{:016x}", s.id).into(),
                s.documents.into(),
                s.deleted.into(),
                s.postings.into(),
                s.bytes.into(),
            ];
            row.extend(s.sections.to_array().into_iter().map(Cell::from));
            t.push(row);
        }
        self.show(&t);
        Ok(())
    }

    fn import(&mut self, file: &str) -> Result<(), String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
        let db = self.db()?;
        let start = db.read().len();
        let jsonl = text.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| l.trim_start().starts_with('{'));
        let mut texts: Vec<TextDocument> = Vec::new();
        let mut docs: Vec<(String, Document)> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if !jsonl {
                texts.push(TextDocument {
                    key: format!("line-{}", n + 1).into_bytes(),
                    text: line.to_string(),
                    metadata: None,
                });
                continue;
            }
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("{file}:{}: not a JSON object: {e}", n + 1))?;
            let id = match &v["id"] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(x) => x.to_string(),
                _ => return Err(format!("{file}:{}: missing \"id\"", n + 1)),
            };
            let body = v["text"].as_str().map(str::to_string);
            let metadata = v.get("metadata").filter(|m| !m.is_null()).cloned();
            match v.get("vector").filter(|x| !x.is_null()) {
                Some(vec) => {
                    let vector = parse_vector(vec).map_err(|e| format!("{file}:{}: vector: {e}", n + 1))?;
                    let mut d = Document::new(vector);
                    d.text = body;
                    d.metadata = metadata;
                    docs.push((id, d));
                }
                None => {
                    let body = body.ok_or_else(|| format!("{file}:{}: needs \"text\" or \"vector\"", n + 1))?;
                    texts.push(TextDocument { key: id.into_bytes(), text: body, metadata });
                }
            }
        }
        if !texts.is_empty() {
            // Texts need the model: fail before anything is written.
            self.encoder()?;
        }
        let total = (texts.len() + docs.len()) as u64;
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("import {bar:30} {pos}/{len} documents {per_sec} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let t = Instant::now();
        for chunk in docs.chunks(1024) {
            let mut txn = db.begin_write().map_err(|e| e.to_string())?;
            for (k, d) in chunk {
                txn.insert(k, d.clone()).map_err(|e| format!("{k}: {e}"))?;
            }
            txn.commit().map_err(|e| e.to_string())?;
            bar.inc(chunk.len() as u64);
        }
        if !texts.is_empty() {
            let done = docs.len() as u64;
            db.import_documents(texts, &ImportOptions::default(), |p| bar.set_position(done + p.committed))
                .map_err(|e| e.to_string())?;
        }
        bar.finish_and_clear();
        let now = db.read().len();
        eprintln!(
            "imported {} documents from {file} in {:.1} s ({:.0} docs/s); the database now holds {now} (was {start})",
            total,
            t.elapsed().as_secs_f64(),
            total as f64 / t.elapsed().as_secs_f64().max(1e-9)
        );
        Ok(())
    }
}
