//! Latent labels: name each SAE latent by the tokens that fire it most over a set of texts, in any language
//! (what `labels.tsv` ships and the shell's `.labels build` stores in a database).

use std::collections::{BTreeMap, HashMap};

use super::TokenActivations;

/// A token as a label shows it: without the tokenizer's word-start or continuation marks.
pub fn clean_token(t: &str) -> String {
    t.trim_start_matches('▁').trim_start_matches("##").trim_start_matches('Ġ').to_string()
}

/// One label: up to three distinct tokens, strongest first, and the languages (indices given to
/// [`LabelBuilder::add`]) of the texts in which each of them fired the latent most.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// The tokens.
    pub tokens: Vec<String>,
    /// For each token, the language of the text where it reached its highest activation.
    pub languages: Vec<usize>,
}

impl Label {
    /// `token / token / token`, as `labels.tsv` and the shell show it.
    pub fn text(&self) -> String {
        self.tokens.join(" / ")
    }

    /// True when its tokens came from texts of more than one language (a latent that fires on "strategy" and
    /// "Strategie": a language-agnostic feature).
    pub fn mixes_languages(&self) -> bool {
        self.languages.iter().any(|&l| l != self.languages[0])
    }
}

/// A token that fired a latent: its strongest activation, as shown, lower-cased (tokens differing only in case
/// are one candidate), and the language of the text where it was strongest.
#[derive(Debug, Clone)]
struct Candidate {
    activation: f32,
    token: String,
    key: String,
    language: usize,
}

/// Collects, per latent, the tokens that activate it most.
#[derive(Debug, Default)]
pub struct LabelBuilder {
    /// latent → candidates, pruned to the strongest few.
    best: HashMap<u32, Vec<Candidate>>,
    texts: usize,
}

fn strongest_first(list: &mut [Candidate]) {
    list.sort_by(|x, y| y.activation.total_cmp(&x.activation).then(x.token.cmp(&y.token)));
}

impl LabelBuilder {
    /// An empty builder.
    pub fn new() -> LabelBuilder {
        LabelBuilder::default()
    }

    /// Adds one text's token activations ([`Encoder::token_activations`](super::Encoder::token_activations)),
    /// the text being in language `language` (an index the caller chooses). Tokens without a letter or digit
    /// (punctuation, the bare word-start mark) name nothing and are skipped.
    pub fn add(&mut self, tokens: &[TokenActivations], language: usize) {
        self.texts += 1;
        for (token, acts) in tokens {
            let token = clean_token(token);
            if !token.chars().any(char::is_alphanumeric) {
                continue;
            }
            let key = token.to_lowercase();
            for &(latent, a) in acts {
                let list = self.best.entry(latent).or_default();
                match list.iter_mut().find(|c| c.key == key) {
                    Some(c) if a > c.activation => (c.activation, c.language) = (a, language),
                    Some(_) => {}
                    None => list.push(Candidate { activation: a, token: token.clone(), key: key.clone(), language }),
                }
                if list.len() > 8 {
                    strongest_first(list);
                    list.truncate(4);
                }
            }
        }
    }

    /// How many texts were added.
    pub fn texts(&self) -> usize {
        self.texts
    }

    /// The labels: for every latent that fired, its three strongest distinct tokens.
    pub fn labels(&self) -> BTreeMap<u32, Label> {
        self.best
            .iter()
            .map(|(&id, list)| {
                let mut list = list.clone();
                strongest_first(&mut list);
                list.truncate(3);
                let label = Label {
                    tokens: list.iter().map(|c| c.token.clone()).collect(),
                    languages: list.iter().map(|c| c.language).collect(),
                };
                (id, label)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strongest_distinct_tokens_name_a_latent_and_languages_are_tracked() {
        let mut b = LabelBuilder::new();
        b.add(&[("▁strategy".into(), vec![(7, 2.0), (9, 0.5)]), ("▁,".into(), vec![(7, 9.0)])], 0);
        b.add(&[("▁Strategie".into(), vec![(7, 1.5)]), ("▁Strategy".into(), vec![(7, 1.0)])], 1);
        b.add(&[("▁game".into(), vec![(9, 0.7)])], 0);
        let labels = b.labels();
        assert_eq!(labels[&7].text(), "strategy / Strategie");
        assert!(labels[&7].mixes_languages());
        assert_eq!(labels[&9].text(), "game / strategy");
        assert!(!labels[&9].mixes_languages());
        assert_eq!(b.texts(), 3);
        assert_eq!(clean_token("##ing"), "ing");
    }
}
