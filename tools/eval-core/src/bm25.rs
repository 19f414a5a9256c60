//! BM25 with tantivy (k1 = 1.2, b = 0.75, tantivy's defaults): lower-casing, stop words and a Snowball
//! stemmer of the corpus language. A baseline of the evaluation, and the lexical teacher of the trainer
//! ([`Bm25System::pair_scores`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use std::collections::HashMap;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, EnableScoring, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, TantivyDocument, Term};

use crate::{BeirDataset, EvalError, EvalResult, IndexStats, Ranking, System};

const ANALYZER: &str = "bm25";

fn err(e: impl std::fmt::Display) -> EvalError {
    EvalError::System(format!("tantivy: {e}"))
}

/// The analyzer of a language: simple tokenizer, long-token removal, lower-casing, stop words, stemming.
pub fn analyzer(language: Language) -> TextAnalyzer {
    let builder =
        TextAnalyzer::builder(SimpleTokenizer::default()).filter(RemoveLongFilter::limit(40)).filter(LowerCaser);
    match StopWordFilter::new(language) {
        Some(stop) => builder.filter(stop).filter(Stemmer::new(language)).build(),
        None => builder.filter(Stemmer::new(language)).build(),
    }
}

/// Parses `en`, `de`, `fr`, `es`, ... into tantivy's stemmer language.
pub fn language(code: &str) -> Option<Language> {
    Some(match code {
        "en" => Language::English,
        "de" => Language::German,
        "fr" => Language::French,
        "es" => Language::Spanish,
        "pt" => Language::Portuguese,
        "it" => Language::Italian,
        "nl" => Language::Dutch,
        "ru" => Language::Russian,
        _ => return None,
    })
}

/// BM25 over a tantivy index built in a directory under the work directory.
pub struct Bm25System {
    language: Language,
    code: String,
    work: PathBuf,
    state: Option<(TextAnalyzer, IndexReader, Field, Field)>,
    /// Document id → address, built on the first [`Bm25System::pair_scores`].
    addresses: HashMap<String, DocAddress>,
}

impl Bm25System {
    /// BM25 with the analyzer of `code` (`en`, `de`, `fr`, ...), indexing under `work`.
    pub fn new(code: &str, work: &Path) -> EvalResult<Bm25System> {
        let language =
            language(code).ok_or_else(|| EvalError::Invalid(format!("no tantivy stemmer for language {code:?}")))?;
        Ok(Bm25System {
            language,
            code: code.to_string(),
            work: work.to_path_buf(),
            state: None,
            addresses: HashMap::new(),
        })
    }

    /// The query of `text`: one optional term clause per analyzed token (None when no token is left).
    fn query(&mut self, text: &str) -> EvalResult<Option<BooleanQuery>> {
        let (analyzer, _, _, body) =
            self.state.as_mut().ok_or_else(|| EvalError::Invalid("search before index".into()))?;
        let mut stream = analyzer.token_stream(text);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        while stream.advance() {
            let term = Term::from_field_text(*body, &stream.token().text);
            clauses.push((Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))));
        }
        Ok((!clauses.is_empty()).then(|| BooleanQuery::new(clauses)))
    }

    /// The BM25 score of `query` for each document of `ids` (0 where no query term occurs), exactly as the
    /// search ranks them. An id not in the corpus is an error.
    pub fn pair_scores(&mut self, query: &str, ids: &[String]) -> EvalResult<Vec<f32>> {
        let searcher =
            self.state.as_ref().ok_or_else(|| EvalError::Invalid("search before index".into()))?.1.searcher();
        if self.addresses.is_empty() {
            let id_field = self.state.as_ref().map(|s| s.2).ok_or_else(|| EvalError::Invalid("no index".into()))?;
            for (segment, reader) in searcher.segment_readers().iter().enumerate() {
                let store = reader.get_store_reader(1).map_err(err)?;
                for doc in reader.doc_ids_alive() {
                    let d: TantivyDocument = store.get(doc).map_err(err)?;
                    let id = d.get_first(id_field).and_then(|v| v.as_str()).unwrap_or_default().to_string();
                    self.addresses.insert(id, DocAddress::new(segment as u32, doc));
                }
            }
        }
        let Some(query) = self.query(query)? else { return Ok(vec![0.0; ids.len()]) };
        let weight = query.weight(EnableScoring::enabled_from_searcher(&searcher)).map_err(err)?;
        ids.iter()
            .map(|id| {
                let address = self
                    .addresses
                    .get(id)
                    .ok_or_else(|| EvalError::Invalid(format!("document {id:?} is not in the BM25 index")))?;
                let reader = searcher.segment_reader(address.segment_ord);
                // explain() fails for a document that matches no term: its score is 0.
                Ok(weight.explain(reader, address.doc_id).map_or(0.0, |e| e.value()))
            })
            .collect()
    }
}

impl System for Bm25System {
    fn name(&self) -> String {
        format!("bm25 (tantivy, {})", self.code)
    }

    fn index(&mut self, dataset: &BeirDataset) -> EvalResult<IndexStats> {
        let dir = self.work.join(format!("{}-bm25-{}", dataset.corpus_fingerprint()?, self.code));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|source| EvalError::Io { path: dir.clone(), source })?;
        }
        std::fs::create_dir_all(&dir).map_err(|source| EvalError::Io { path: dir.clone(), source })?;
        let start = Instant::now();
        let mut schema = Schema::builder();
        let id = schema.add_text_field("id", STRING | STORED);
        let indexing =
            TextFieldIndexing::default().set_tokenizer(ANALYZER).set_index_option(IndexRecordOption::WithFreqs);
        let body = schema.add_text_field("body", TextOptions::default().set_indexing_options(indexing));
        let index = Index::create_in_dir(&dir, schema.build()).map_err(err)?;
        index.tokenizers().register(ANALYZER, analyzer(self.language));
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 200_000_000).map_err(err)?;
        let mut documents = 0u64;
        dataset.for_each_doc(|d| {
            let mut doc = TantivyDocument::default();
            doc.add_text(id, &d.id);
            doc.add_text(body, &d.text);
            writer.add_document(doc).map_err(err)?;
            documents += 1;
            Ok(())
        })?;
        writer.commit().map_err(err)?;
        writer.wait_merging_threads().map_err(err)?;
        let reader = index.reader().map_err(err)?;
        let build_seconds = start.elapsed().as_secs_f64();
        let index_bytes = std::fs::read_dir(&dir)
            .map_err(|source| EvalError::Io { path: dir.clone(), source })?
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum();
        self.state = Some((analyzer(self.language), reader, id, body));
        self.addresses.clear();
        Ok(IndexStats { documents, build_seconds, index_bytes, ..IndexStats::default() })
    }

    fn search(&mut self, query: &str, k: usize) -> EvalResult<Ranking> {
        let Some(query) = self.query(query)? else { return Ok(Ranking::default()) };
        let (_, reader, id, _) = self.state.as_ref().ok_or_else(|| EvalError::Invalid("search before index".into()))?;
        let searcher = reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(k).order_by_score()).map_err(err)?;
        let mut ids = Vec::with_capacity(top.len());
        for (_, address) in top {
            let doc: TantivyDocument = searcher.doc(address).map_err(err)?;
            ids.push(doc.get_first(*id).and_then(|v| v.as_str()).unwrap_or_default().to_string());
        }
        Ok(Ranking { ids, ..Ranking::default() })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{evaluate, BeirDataset, EvalOptions};

    use super::*;

    fn fixture() -> BeirDataset {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/beir-mini");
        BeirDataset::open(dir, "test", 1.0).unwrap()
    }

    #[test]
    fn stems_and_drops_stop_words() {
        let mut a = analyzer(Language::English);
        let mut stream = a.token_stream("The Servers are SYNCHRONISING clocks");
        let mut tokens = Vec::new();
        while stream.advance() {
            tokens.push(stream.token().text.clone());
        }
        assert_eq!(tokens, ["server", "synchronis", "clock"]);
        assert!(language("xx").is_none());
        assert!(Bm25System::new("xx", Path::new("/tmp")).is_err());
    }

    #[test]
    fn ranks_the_fixture() {
        let work = tempfile::tempdir().unwrap();
        let data = fixture();
        let mut bm25 = Bm25System::new("en", work.path()).unwrap();
        let report = evaluate(&data, &mut bm25, &EvalOptions::default(), |_, _| {}).unwrap();
        assert_eq!(report.documents, 24);
        // Lexical matching finds most English known items; the German and French queries share few words.
        assert!(report.ndcg_at_10 > 0.5, "{}", report.ndcg_at_10);
        assert!(report.index_bytes > 0);
        let top = bm25.search("compress files with lz4", 10).unwrap();
        assert_eq!(top.ids.first().map(String::as_str), Some("d01"));
        // A query of stop words only matches nothing.
        assert!(bm25.search("the and of", 10).unwrap().ids.is_empty());
        // Pair scores are the ranking's scores: descending along the ranking, 0 for a document without a
        // query term, and an unknown id is an error.
        let top = bm25.search("image viewer for pictures", 24).unwrap().ids;
        let scores = bm25.pair_scores("image viewer for pictures", &top).unwrap();
        assert!(scores[0] > 0.0 && scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        let all: Vec<String> = data.corpus().unwrap().into_iter().map(|d| d.id).collect();
        let every = bm25.pair_scores("image viewer for pictures", &all).unwrap();
        assert_eq!(every.iter().filter(|&&s| s > 0.0).count(), top.len());
        assert_eq!(bm25.pair_scores("the and of", &all).unwrap(), vec![0.0; all.len()]);
        assert!(bm25.pair_scores("viewer", &["nope".to_string()]).is_err());
    }
}
