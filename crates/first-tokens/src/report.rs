//! What a person reads after the test: the review listing (one line per row,
//! as `--review` prints it) and the Markdown report of every pair.

use refinery_core::experiment::vetting_passed;
use refinery_core::Row;
use refinery_lm::{Finding, Separation};
use serde_json::Value;

use crate::TokenTest;

/// A tested row with what the report shows of it.
pub struct Checked {
    pub index: usize,
    pub pair: Option<String>,
    pub polarity: String,
    pub prompt: String,
    pub system_prompt: Option<String>,
    /// The model's response, when the row carries one.
    pub response: Option<String>,
    pub scenario_vet: Option<(Option<f64>, String)>,
    pub response_vet: Option<(Option<f64>, String)>,
    /// The response's coherence verdict and reason (vet-score --coherence).
    pub coherence: Option<String>,
    /// Whether the row passed every vetting check it carries.
    pub vetted: bool,
    pub test: TokenTest,
}

impl Checked {
    pub fn new(row: &Row, test: TokenTest, index: usize) -> Self {
        let vet = |key: &str| {
            row.get(key).map(|v| {
                (
                    v.get("score").and_then(Value::as_f64),
                    v.get("verdict")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_string(),
                )
            })
        };
        Checked {
            index,
            pair: row
                .get("pair")
                .filter(|p| !p.is_null())
                .map(|p| p.to_string()),
            polarity: row
                .get("polarity")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            prompt: row
                .get("prompt")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            system_prompt: row
                .get("system_prompt")
                .and_then(Value::as_str)
                .map(String::from),
            response: row
                .get("response")
                .and_then(Value::as_str)
                .map(String::from),
            scenario_vet: vet("scenario_vet"),
            response_vet: vet("response_vet"),
            coherence: row.get("coherence").map(|c| {
                match (c["verdict"].as_str(), c["reason"].as_str()) {
                    (Some(v), Some(why)) => format!("{v} ({why})"),
                    (v, _) => v.unwrap_or("?").to_string(),
                }
            }),
            vetted: vetting_passed(row),
            test,
        }
    }

    pub fn label(&self) -> String {
        match &self.pair {
            Some(p) => format!("pair {p}"),
            None => format!("row {}", self.index),
        }
    }

    /// Whether every check this row has been through passed.
    pub fn passed(&self) -> bool {
        let first_ok = self.polarity != "positive" || self.test.verdict == "express";
        self.vetted && first_ok
    }
}

fn last_words(text: &str, n: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let start = words.len().saturating_sub(n);
    let tail = words[start..].join(" ");
    if start > 0 {
        format!("…{tail}")
    } else {
        tail
    }
}

fn signal(s: Option<f64>) -> String {
    s.map_or("   -  ".into(), |s| format!("{s:+.2}"))
}

/// `  3 positive express   +0.21 …so I told him | " it was great"`
pub fn review_line(c: &Checked) -> String {
    format!(
        "{:>3} {:<8} {:<9} {} {} | {:?}",
        c.index,
        c.polarity,
        c.test.verdict,
        signal(c.test.signal),
        last_words(&c.prompt, 8),
        c.test.text
    )
}

fn score_cell(v: &Option<(Option<f64>, String)>) -> String {
    match v {
        None => "–".into(),
        Some((Some(s), verdict)) => format!("{s:.1} {verdict}"),
        Some((None, verdict)) => format!("– {verdict}"),
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "⏎")
}

/// The self-check of every stage the rows went through: the stage's name
/// and the separation of positive from negative scores there.
pub fn stages(checked: &[Checked]) -> Vec<(&'static str, Separation)> {
    let positive = |c: &Checked| c.polarity == "positive";
    let vet_score = |v: &Option<(Option<f64>, String)>| v.as_ref().and_then(|(s, _)| *s);
    let mut stages: Vec<(&str, Separation)> = Vec::new();
    if checked.iter().any(|c| c.scenario_vet.is_some()) {
        let rows = checked
            .iter()
            .map(|c| (positive(c), vet_score(&c.scenario_vet)));
        stages.push(("scenario vetting", Separation::of(rows)));
    }
    if checked.iter().any(|c| c.response_vet.is_some()) {
        let rows = checked
            .iter()
            .map(|c| (positive(c), vet_score(&c.response_vet)));
        stages.push(("response vetting", Separation::of(rows)));
    }
    let rows = checked
        .iter()
        .map(|c| (positive(c), c.test.with_first_score));
    stages.push(("first tokens (prompt + first tokens)", Separation::of(rows)));
    stages
}

/// "Can the judge decide?": the self-check of every stage the rows went
/// through, positives against negatives.
fn self_check_section(judge: &str, checked: &[Checked], min_auc: f64) -> String {
    let stages = stages(checked);
    let mut md = String::from(
        "## Can the judge decide?\n\nThe scenarios carry their own labels, so each stage's judge is checked on them: \
         the AUC of positive against negative scores (0.5 is chance, 1 perfect) and the mean gap in points. \
         A stage whose AUC is below the floor has verdicts that are not evidence.\n\n\
         | stage | AUC | mean gap | scored (pos / neg) | finding |\n|---|---:|---:|---|---|\n",
    );
    let mut cannot = false;
    for (stage, s) in &stages {
        let finding = s.finding(min_auc);
        cannot |= finding == Finding::CannotSeparate;
        md.push_str(&format!(
            "| {stage} | {} | {} | {} / {} | {} |\n",
            s.auc.map_or("–".into(), |a| format!("{a:.2}")),
            s.mean_gap.map_or("–".into(), |g| format!("{g:+.1}")),
            s.positives,
            s.negatives,
            match finding {
                Finding::Separates => "separates".to_string(),
                Finding::CannotSeparate => format!("**cannot separate** (AUC < {min_auc})"),
                Finding::TooFewRows => "too few rows to tell".to_string(),
            }
        ));
    }
    md.push_str(&format!("\nFirst-token judge: `{judge}`.\n\n"));
    if cannot {
        md.push_str(
            "**Warning:** a judge above cannot tell this trait's positives from its negatives on these scenarios, \
             so its pass/fail verdicts are not evidence. Use a stronger judge model (`--model DIR`, \
             `--backend openai`) or another kind of judge (`--judge`), and read the scores below with that in mind.\n\n",
        );
    }
    md
}

/// The report. `rounds` is the loop's history so far (this round last;
/// empty without `--history`).
pub fn markdown_report(
    trait_name: &str,
    judge: &str,
    checked: &[Checked],
    threshold: f64,
    min_auc: f64,
    rounds: &[Value],
    suggestions: Option<&[Value]>,
) -> String {
    let mut md = format!("# Refinement report: {trait_name}\n\n");
    let failing: Vec<&Checked> = checked.iter().filter(|c| !c.passed()).collect();
    let positives = checked.iter().filter(|c| c.polarity == "positive").count();
    let express = checked
        .iter()
        .filter(|c| c.polarity == "positive" && c.test.verdict == "express")
        .count();
    md.push_str(&format!(
        "{} rows; {} passed every check; positives whose first tokens carry the trait: {express}/{positives} \
         (signal >= {threshold}).\n\n",
        checked.len(),
        checked.len() - failing.len()
    ));
    md.push_str(&crate::history::rounds_section(rounds));
    md.push_str(&self_check_section(judge, checked, min_auc));
    md.push_str("## Scenarios to rewrite\n\n");
    if failing.is_empty() {
        md.push_str("None.\n\n");
    } else {
        let coherence = checked.iter().any(|c| c.coherence.is_some());
        md.push_str(&format!(
            "| row | polarity | scenario vet | response vet |{} first tokens | signal | end of prompt \\| first tokens |\n",
            if coherence { " coherence |" } else { "" }
        ));
        md.push_str(if coherence {
            "|---|---|---|---|---|---|---:|---|\n"
        } else {
            "|---|---|---|---|---|---:|---|\n"
        });
        for c in &failing {
            let coherence_cell = match (&c.coherence, coherence) {
                (_, false) => String::new(),
                (Some(v), true) => format!(" {} |", cell(v)),
                (None, true) => " – |".to_string(),
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} |{coherence_cell} {} | {} | {} \\| {} |\n",
                c.label(),
                c.polarity,
                score_cell(&c.scenario_vet),
                score_cell(&c.response_vet),
                c.test.verdict,
                signal(c.test.signal).trim(),
                cell(&last_words(&c.prompt, 10)),
                cell(&format!("{:?}", c.test.text)),
            ));
        }
        md.push('\n');
    }
    if let Some(s) = suggestions {
        let first_tokens = Separation::of(
            checked
                .iter()
                .map(|c| (c.polarity == "positive", c.test.with_first_score)),
        );
        let trusted = first_tokens.finding(min_auc) == Finding::Separates;
        md.push_str(&suggestions_section(s, trusted));
    }
    md.push_str("## All rows\n\n| row | polarity | passed | first tokens | signal |\n|---|---|---|---|---:|\n");
    for c in checked {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            c.label(),
            c.polarity,
            if c.passed() { "yes" } else { "no" },
            cell(&format!("{:?}", c.test.text)),
            signal(c.test.signal).trim()
        ));
    }
    md
}

/// "Suggested fixes": each failing positive's checked suggestion.
fn suggestions_section(suggestions: &[Value], trusted: bool) -> String {
    let mut md = String::from(
        "## Suggested fixes\n\nFor each pair whose positive failed: the prompt cut at an earlier word boundary, \
         completed by the model under study and put through the same test, when a cut both still reads as a \
         positive (its prompt alone scores at least the threshold) and gives its first tokens more signal; or a \
         flag where the scenario passes but the response does not, with a rewrite by the judges' model when one \
         passes the same checks (`--rewrites N`; for a rewrite the signal column gives the new first tokens' signal \
         and the response's score before → after). Nothing is changed until you apply them (`apply-suggestions`).\n\n",
    );
    if !trusted {
        md.push_str(
            "**These checks rest on the first-token judge, which did not pass its self-check above:** \
             a cut it prefers may be no better. Read each one before accepting it.\n\n",
        );
    }
    if suggestions.is_empty() {
        md.push_str("None.\n\n");
        return md;
    }
    md.push_str("| pair | fix | before → after | first tokens before → after | signal before → after | accept |\n|---|---|---|---|---|---|\n");
    for s in suggestions {
        let text = |k: &str| s[k].as_str().map(|t| cell(&format!("{t:?}")));
        let num = |k: &str| s[k].as_f64().map_or("–".into(), |x| format!("{x:+.2}"));
        let (change, tokens, signals) = match (s["kind"].as_str(), s["after"].as_str()) {
            (Some("ignored_lock_in"), Some(after)) => (
                format!("rewrite: {}", cell(after)),
                format!(
                    "{} → {}",
                    text("first_tokens").unwrap_or_default(),
                    text("after_first_tokens").unwrap_or_default()
                ),
                format!(
                    "{} (response {} → {})",
                    num("after_signal"),
                    s["before_response_score"]
                        .as_f64()
                        .map_or("–".into(), |x| format!("{x:.0}")),
                    s["after_response_score"]
                        .as_f64()
                        .map_or("–".into(), |x| format!("{x:.0}")),
                ),
            ),
            (Some("cut"), Some(after)) => (
                format!(
                    "{} → {}",
                    cell(&last_words(s["before"].as_str().unwrap_or_default(), 6)),
                    cell(&last_words(after, 6))
                ),
                format!(
                    "{} → {}",
                    text("before_first_tokens").unwrap_or_default(),
                    text("after_first_tokens").unwrap_or_default()
                ),
                format!("{} → {}", num("before_signal"), num("after_signal")),
            ),
            _ => (
                cell(s["note"].as_str().unwrap_or_default()),
                text("before_first_tokens")
                    .or_else(|| text("first_tokens"))
                    .unwrap_or_default(),
                num("before_signal"),
            ),
        };
        md.push_str(&format!(
            "| {} | {} | {change} | {tokens} | {signals} | {} |\n",
            s["pair"],
            s["kind"].as_str().unwrap_or("?").replace('_', " "),
            if s["accept"] == true { "yes" } else { "no" },
        ));
    }
    md.push('\n');
    md
}
