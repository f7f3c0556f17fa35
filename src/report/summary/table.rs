//! The summary's building blocks: a Markdown table that leaves out the columns with nothing
//! to say, folded `<details>` blocks, and compact times.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A Markdown table, written without the columns whose every cell is empty, `0` or `–`
/// (the first column, which names the row, always stays): at fleet size a column of zeros
/// only pushes the others off the screen.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    headers: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(headers: &[(&str, Align)]) -> Self {
        Self {
            headers: headers
                .iter()
                .map(|(name, align)| ((*name).to_owned(), *align))
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row: one cell per header (missing cells are empty, extra ones dropped).
    pub(crate) fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// The table, followed by a blank line; nothing when it has no row.
    pub(crate) fn write(&self, md: &mut String) {
        if self.rows.is_empty() {
            return;
        }
        let kept: Vec<usize> = (0..self.headers.len())
            .filter(|&column| column == 0 || self.rows.iter().any(|row| says(&row[column])))
            .collect();
        let line = |cells: Vec<&str>| format!("| {} |", cells.join(" | "));
        let _ = writeln!(
            md,
            "{}",
            line(kept.iter().map(|&c| self.headers[c].0.as_str()).collect())
        );
        let rule: Vec<&str> = kept
            .iter()
            .map(|&c| match self.headers[c].1 {
                Align::Left => "---",
                Align::Right => "---:",
            })
            .collect();
        let _ = writeln!(md, "{}", line(rule));
        for row in &self.rows {
            let _ = writeln!(
                md,
                "{}",
                line(kept.iter().map(|&c| row[c].as_str()).collect())
            );
        }
        md.push('\n');
    }
}

/// A cell that says something: not empty, not zero, not a dash.
fn says(cell: &str) -> bool {
    !matches!(cell.trim(), "" | "0" | "–")
}

/// Opens a `<details>` block, which GitHub shows folded with `summary` as its one line. The
/// blank line after `<summary>` lets Markdown inside render.
pub(crate) fn open_details(md: &mut String, summary: &str) {
    let _ = writeln!(md, "<details><summary>{summary}</summary>\n");
}

pub(crate) fn close_details(md: &mut String) {
    md.push_str("</details>\n\n");
}

/// Text from GitHub made inert inside HTML (a `<summary>` line, where Markdown is not read):
/// no tag, no entity, no line break.
pub(crate) fn html_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            c if c.is_control() => " ".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// `text` on one line in a table cell: its spaces non-breaking, and no break after an
/// ellipsis (a receiver's `https://ci.example.test …3f9a` would break before its
/// fingerprint).
pub(crate) fn unbroken(text: &str) -> String {
    text.replace(' ', "\u{a0}").replace('…', "…\u{2060}")
}

/// A compact time that never breaks across lines in a table cell: `Dec 7 06:10` (UTC; the
/// header says so), its spaces non-breaking.
pub(crate) fn short_time(at: DateTime<Utc>) -> String {
    at.format("%b\u{a0}%-d\u{a0}%H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_with_nothing_to_say_are_left_out() {
        let mut table = Table::new(&[
            ("Hook", Align::Left),
            ("Redelivered", Align::Right),
            ("Given up", Align::Right),
            ("Note", Align::Left),
        ]);
        table.row(vec!["`a`".into(), "3".into(), "0".into(), String::new()]);
        table.row(vec!["`b`".into(), "0".into(), "0".into(), "–".into()]);
        let mut md = String::new();
        table.write(&mut md);
        assert_eq!(
            md,
            "| Hook | Redelivered |\n| --- | ---: |\n| `a` | 3 |\n| `b` | 0 |\n\n"
        );
        assert_eq!(
            html_text("<b>x</b> & \"y\"\n"),
            "&lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot; "
        );
        assert_eq!(
            short_time("2026-12-07T06:10:59Z".parse().expect("a time")),
            "Dec\u{a0}7\u{a0}06:10"
        );
    }
}
