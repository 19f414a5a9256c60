//! Output modes of the shell (sqlite3's `.mode`): table, json, csv, line; `.headers` applies to table and csv.

use std::fmt::Write as _;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Aligned columns.
    Table,
    /// One JSON array of objects.
    Json,
    /// Comma-separated values, RFC 4180 quoting.
    Csv,
    /// One `column = value` line per field, a blank line between rows.
    Line,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "table" | "column" | "box" => Mode::Table,
            "json" => Mode::Json,
            "csv" => Mode::Csv,
            "line" => Mode::Line,
            _ => return None,
        })
    }
}

/// A result: named columns and rows of cells.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// One value; numbers stay numbers in JSON.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Int(i64),
    Float(f64, usize),
    Null,
}

impl Cell {
    fn plain(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f, d) => format!("{f:.d$}"),
            Cell::Null => String::new(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Text(s) => serde_json::Value::String(s.clone()),
            Cell::Int(i) => (*i).into(),
            Cell::Float(f, d) => format!("{f:.d$}").parse::<f64>().map(Into::into).unwrap_or(serde_json::Value::Null),
            Cell::Null => serde_json::Value::Null,
        }
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}
impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}
impl From<u64> for Cell {
    fn from(v: u64) -> Self {
        Cell::Int(v as i64)
    }
}
impl From<usize> for Cell {
    fn from(v: usize) -> Self {
        Cell::Int(v as i64)
    }
}
impl From<u32> for Cell {
    fn from(v: u32) -> Self {
        Cell::Int(v as i64)
    }
}

impl Table {
    pub fn new(columns: &[&str]) -> Table {
        Table { columns: columns.iter().map(|c| c.to_string()).collect(), rows: vec![] }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    pub fn render(&self, mode: Mode, headers: bool) -> String {
        let mut out = String::new();
        match mode {
            Mode::Table => {
                let cells: Vec<Vec<String>> =
                    self.rows.iter().map(|r| r.iter().map(|c| c.plain().replace('\n', " ")).collect()).collect();
                let mut widths: Vec<usize> =
                    self.columns.iter().map(|c| if headers { c.chars().count() } else { 0 }).collect();
                for r in &cells {
                    for (w, c) in widths.iter_mut().zip(r) {
                        *w = (*w).max(c.chars().count());
                    }
                }
                let line = |out: &mut String, vals: &[String]| {
                    let parts: Vec<String> = vals.iter().zip(&widths).map(|(v, &w)| pad(v, w)).collect();
                    let _ = writeln!(out, "{}", parts.join("  ").trim_end());
                };
                if headers {
                    line(&mut out, &self.columns);
                    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
                    line(&mut out, &rule);
                }
                for r in &cells {
                    line(&mut out, r);
                }
            }
            Mode::Csv => {
                if headers {
                    let _ = writeln!(out, "{}", self.columns.iter().map(|c| csv(c)).collect::<Vec<_>>().join(","));
                }
                for r in &self.rows {
                    let _ = writeln!(out, "{}", r.iter().map(|c| csv(&c.plain())).collect::<Vec<_>>().join(","));
                }
            }
            Mode::Json => {
                let rows: Vec<serde_json::Value> = self
                    .rows
                    .iter()
                    .map(|r| {
                        let obj: serde_json::Map<String, serde_json::Value> =
                            self.columns.iter().cloned().zip(r.iter().map(Cell::json)).collect();
                        serde_json::Value::Object(obj)
                    })
                    .collect();
                let _ = writeln!(out, "{}", serde_json::to_string(&rows).unwrap_or_default());
            }
            Mode::Line => {
                let w = self.columns.iter().map(|c| c.chars().count()).max().unwrap_or(0);
                for (i, r) in self.rows.iter().enumerate() {
                    if i > 0 {
                        out.push('\n');
                    }
                    for (c, v) in self.columns.iter().zip(r) {
                        let _ = writeln!(out, "{} = {}", pad_left(c, w), v.plain());
                    }
                }
            }
        }
        out
    }
}

fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(w.saturating_sub(n)))
}

fn pad_left(s: &str, w: usize) -> String {
    let n = s.chars().count();
    format!("{}{s}", " ".repeat(w.saturating_sub(n)))
}

fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The first `max` characters of `text` on one line, with an ellipsis when cut.
pub fn snippet(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let mut t = Table::new(&["key", "score"]);
        t.push(vec!["a,b".into(), Cell::Float(1.5, 2)]);
        t.push(vec!["c".into(), Cell::Int(3)]);
        assert_eq!(t.render(Mode::Csv, true), "key,score\n\"a,b\",1.50\nc,3\n");
        assert_eq!(t.render(Mode::Json, false), "[{\"key\":\"a,b\",\"score\":1.5},{\"key\":\"c\",\"score\":3}]\n");
        assert_eq!(t.render(Mode::Table, true), "key  score\n---  -----\na,b  1.50\nc    3\n");
        assert_eq!(t.render(Mode::Line, true), "  key = a,b\nscore = 1.50\n\n  key = c\nscore = 3\n");
        assert_eq!(snippet("a  b\nc", 10), "a b c");
        assert_eq!(snippet("abcdefghijkl", 5), "abcd…");
    }
}
