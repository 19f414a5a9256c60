//! `splaredb model labels`: a model's `labels.tsv` from texts in several languages, and how well it covers
//! the latents queries use.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::Args;
use splaredb::encoder::labeling::{Label, LabelBuilder};
use splaredb::encoder::{self, Encoder, EncoderOptions, TextKind};

/// `splaredb model labels`'s arguments.
#[derive(Args)]
pub struct LabelArgs {
    /// Model name (in the cache) or directory.
    model: String,
    /// Texts to label from: LANG=FILE.jsonl (objects with "text", optional "title" and "split"); repeat per
    /// language.
    #[arg(long = "texts", required = true)]
    texts: Vec<String>,
    /// Queries to measure coverage on: LANG=FILE.jsonl (their "test" split when lines have one).
    #[arg(long = "queries")]
    queries: Vec<String>,
    /// Only lines whose "split" is this (lines without one are kept); e.g. train.
    #[arg(long)]
    split: Option<String>,
    /// At most this many texts per file, spread evenly over it.
    #[arg(long, default_value_t = 2000)]
    per_file: usize,
    /// At most this many queries per file for the coverage report.
    #[arg(long, default_value_t = 500)]
    queries_per_file: usize,
    /// Tokens of each text looked at.
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// Where to write labels.tsv (default: print the summary only).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// (language, texts) read from `LANG=FILE`, keeping at most `limit` lines evenly spread.
fn read_texts(spec: &str, split: Option<&str>, limit: usize) -> Result<(String, Vec<String>), String> {
    let (lang, path) = spec.split_once('=').ok_or_else(|| format!("{spec:?}: expected LANG=FILE.jsonl"))?;
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut all = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{path}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("{path}, line {}: not JSON: {e}", n + 1))?;
        if let (Some(want), Some(have)) = (split, v.get("split").and_then(|s| s.as_str())) {
            if want != have {
                continue;
            }
        }
        let text = v.get("text").and_then(|t| t.as_str()).unwrap_or("");
        let title = v.get("title").and_then(|t| t.as_str()).unwrap_or("");
        let joined = if title.is_empty() { text.to_string() } else { format!("{title} {text}") };
        if !joined.trim().is_empty() {
            all.push(joined);
        }
    }
    let step = all.len().div_ceil(limit.max(1)).max(1);
    Ok((lang.to_string(), all.into_iter().step_by(step).take(limit).collect()))
}

/// Runs `splaredb model labels`.
pub fn run(args: LabelArgs) -> Result<(), String> {
    let dir = encoder::resolve_model(&args.model).map_err(|e| e.to_string())?;
    let enc = Encoder::load(&dir, &EncoderOptions::default()).map_err(|e| e.to_string())?;
    let mut languages: Vec<String> = Vec::new();
    let mut builder = LabelBuilder::new();
    let mut sources = Vec::new();
    for spec in &args.texts {
        let (lang, texts) = read_texts(spec, args.split.as_deref(), args.per_file)?;
        let li = languages.iter().position(|l| *l == lang).unwrap_or_else(|| {
            languages.push(lang.clone());
            languages.len() - 1
        });
        let bar = indicatif::ProgressBar::new(texts.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!("{lang} {{bar:30}} {{pos}}/{{len}} texts {{elapsed}}"))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        for chunk in texts.chunks(16) {
            for tokens in
                enc.token_activations_batch(chunk, TextKind::Document, args.max_tokens).map_err(|e| e.to_string())?
            {
                builder.add(&tokens, li);
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        sources.push(format!("{lang} {} ({})", texts.len(), spec.split_once('=').map(|x| x.1).unwrap_or("")));
    }
    let labels: BTreeMap<u32, Label> = builder.labels();
    let mixed = labels.values().filter(|l| l.mixes_languages()).count();
    let dims = enc.dims().map_err(|e| e.to_string())?;
    println!(
        "labelled {} of {dims} latents from {} texts; {mixed} labels mix languages",
        labels.len(),
        builder.texts()
    );
    for (li, lang) in languages.iter().enumerate() {
        let only = labels.values().filter(|l| !l.mixes_languages() && l.languages.first() == Some(&li)).count();
        println!("  labels from {lang} texts only: {only}");
    }

    for spec in &args.queries {
        let (lang, queries) = read_texts(spec, Some("test"), args.queries_per_file)?;
        let vectors = enc.encode_batch(&queries, TextKind::Query).map_err(|e| e.to_string())?;
        let (mut used, mut uses, mut labelled_uses) = (BTreeSet::new(), 0usize, 0usize);
        for v in &vectors {
            for id in v.ids() {
                used.insert(*id);
                uses += 1;
                labelled_uses += usize::from(labels.contains_key(id));
            }
        }
        let labelled = used.iter().filter(|id| labels.contains_key(id)).count();
        println!(
            "{lang} queries ({}): {} distinct latents used, {labelled} labelled ({:.1}%); {:.1}% of the {uses} \
             query-latent uses",
            vectors.len(),
            used.len(),
            100.0 * labelled as f64 / used.len().max(1) as f64,
            100.0 * labelled_uses as f64 / uses.max(1) as f64
        );
    }

    if let Some(out) = &args.out {
        let tmp = out.with_extension("tsv.partial");
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?);
        let mut w = |s: String| f.write_all(s.as_bytes()).map_err(|e| format!("{}: {e}", tmp.display()));
        w(format!(
            "# Latent labels of {}: the tokens that fire each latent most, strongest first.\n",
            enc.identity().name
        ))?;
        w(format!(
            "# Built by `splaredb model labels` (first {} tokens of each text) over: {}.\n",
            args.max_tokens,
            sources.join(", ")
        ))?;
        w(format!("# {} latents labelled; {mixed} labels mix languages.\n", labels.len()))?;
        for (id, l) in &labels {
            w(format!("{id}\t{}\n", l.text().replace(['\t', '\n', '\r'], " ")))?;
        }
        f.into_inner().map_err(|e| e.to_string())?.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, out).map_err(|e| format!("{}: {e}", out.display()))?;
        println!("{}", out.display());
    }
    Ok(())
}
