//! Turning a report into text: titled tables rendered either as aligned
//! columns for a terminal or as Markdown, from one description.

/// A titled table: a header and rows of cells; numeric columns align right.
pub struct Section {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub right: Vec<bool>,
}

impl Section {
    pub fn new(title: impl Into<String>, header: &[&str], right: &[bool]) -> Self {
        Section {
            title: title.into(),
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            right: right.to_vec(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Aligned text, one blank line between sections.
pub fn as_text(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        out.push_str(&s.title);
        out.push('\n');
        let cols = s.header.len();
        let mut widths: Vec<usize> = s.header.iter().map(|h| width(h)).collect();
        for row in &s.rows {
            for (i, cell) in row.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(width(cell));
            }
        }
        let line = |cells: &[String], out: &mut String| {
            let mut text = String::from(" ");
            for (i, cell) in cells.iter().enumerate().take(cols) {
                let pad = " ".repeat(widths[i] - width(cell));
                text.push(' ');
                if s.right[i] {
                    text.push_str(&pad);
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    text.push_str(&pad);
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        if s.header.iter().any(|h| !h.is_empty()) {
            line(&s.header, &mut out);
        }
        for row in &s.rows {
            line(row, &mut out);
        }
        out.push('\n');
    }
    out
}

fn md_escape(cell: &str) -> String {
    cell.replace('|', "\\|")
}

/// Markdown: a `###` heading and a pipe table per section.
pub fn as_markdown(sections: &[Section]) -> String {
    let mut out = String::new();
    for s in sections {
        out.push_str(&format!("### {}\n\n", s.title));
        let header: Vec<String> = s
            .header
            .iter()
            .map(|h| {
                if h.is_empty() {
                    " ".to_string()
                } else {
                    md_escape(h)
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", header.join(" | ")));
        let rule: Vec<&str> = s
            .right
            .iter()
            .map(|r| if *r { "---:" } else { "---" })
            .collect();
        out.push_str(&format!("|{}|\n", rule.join("|")));
        for row in &s.rows {
            let cells: Vec<String> = row.iter().map(|c| md_escape(c)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out.push('\n');
    }
    out
}

/// A number with 3 decimals and a sign, or `-` when there is none.
pub fn signed(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:+.3}"))
}

/// A number with 3 decimals, or `-`.
pub fn fixed(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:.3}"))
}

/// A bar of `n` scaled to `max` over `cells` characters.
pub fn bar(n: u64, max: u64, cells: usize) -> String {
    if max == 0 {
        return String::new();
    }
    let eighths = (n as f64 / max as f64 * (cells * 8) as f64).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    const PARTS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    s.push_str(PARTS[eighths % 8]);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_markdown_from_one_section() {
        let mut s = Section::new("t", &["name", "n"], &[false, true]);
        s.row(vec!["a|b".into(), "1".into()]);
        s.row(vec!["long name".into(), "100".into()]);
        assert_eq!(
            as_text(&[s]),
            "t\n  name        n\n  a|b         1\n  long name 100\n\n"
        );
        let mut s = Section::new("t", &["name", "n"], &[false, true]);
        s.row(vec!["a|b".into(), "1".into()]);
        assert_eq!(
            as_markdown(&[s]),
            "### t\n\n| name | n |\n|---|---:|\n| a\\|b | 1 |\n\n"
        );
    }

    #[test]
    fn bars_scale() {
        assert_eq!(bar(10, 10, 4), "████");
        assert_eq!(bar(5, 10, 4), "██");
        assert_eq!(bar(1, 16, 2), "▏");
        assert_eq!(bar(0, 10, 4), "");
    }
}
