//! The rows `vet-score` writes: the vet field, `input_hash`, and the
//! `--resume` journal (each batch recorded as soon as it is scored, reused
//! rows taking their judgement from the earlier run).

use refinery_api::judge::REQUEST_FAILED;
use refinery_api::{Output, HASH_FIELD};
use refinery_core::record::with_fields;
use refinery_core::Result;
use refinery_lm::Judgement;
use serde_json::{json, Value};

use crate::judges::{score_batch, AnyJudge};
use crate::{round2, Cli, Pending, Scored, Thresholds};

/// An API judgement whose requests failed (not a score below the mass floor).
pub fn request_failed(j: &Judgement) -> bool {
    j.score.is_none()
        && j.error
            .as_deref()
            .is_some_and(|e| e.starts_with(REQUEST_FAILED))
}

/// Scores a batch: rows an earlier run finished (`--resume`) take their
/// judgement from it; the others are judged and appended to the journal at
/// once (with their own verdicts; pairs are settled at the end).
pub fn score_and_record(
    judge: &mut AnyJudge,
    batch: &mut [Pending],
    cli: &Cli,
    t: Thresholds,
    output: &mut Output,
    judge_name: &str,
) -> Result<()> {
    let key = cli.stage.field();
    for p in batch.iter_mut() {
        if let Some(hash) = &p.hash {
            p.judgement = output
                .reusable(hash)
                .and_then(|old| earlier_judgement(&old, key));
        }
    }
    let new: Vec<bool> = batch.iter().map(|p| p.judgement.is_none()).collect();
    score_batch(judge, batch, cli, t)?;
    for (p, new) in batch.iter().zip(new) {
        if new && p.hash.is_some() {
            output.record(&row_line(p, &p.scored, judge_name, key))?;
        }
    }
    Ok(())
}

/// The row as written: its input, the vet field and, for the API judge,
/// `input_hash`.
pub fn row_line(p: &Pending, s: &Scored, judge_name: &str, key: &str) -> Vec<u8> {
    let field = vet_field(
        p.judgement.as_ref().expect("every row scored"),
        s,
        judge_name,
    );
    let mut fields = vec![(key, field)];
    if let Some(c) = &p.coherence {
        fields.push(("coherence", c.clone()));
    }
    if let Some(hash) = &p.hash {
        fields.push((HASH_FIELD, json!(hash)));
    }
    with_fields(&p.bytes, &p.row, &fields)
}

/// The judgement an earlier run wrote in `key`.
fn earlier_judgement(line: &[u8], key: &str) -> Option<Judgement> {
    let row: Value = serde_json::from_slice(line).ok()?;
    let field = row.get(key)?;
    Some(Judgement {
        score: field["score"].as_f64(),
        mass: field["mass"].as_f64(),
        contrast: field["contrast"].as_f64(),
        error: field["error"].as_str().map(str::to_string),
    })
}

fn vet_field(j: &Judgement, s: &Scored, judge_name: &str) -> Value {
    let mut field = json!({
        "score": j.score.map(round2),
        "verdict": if s.failed_by_pair { "fail" } else { s.verdict.as_str() },
        "judge": judge_name,
    });
    if let Some(mass) = j.mass {
        field["mass"] = json!((mass * 1000.0).round() / 1000.0);
    }
    if let Some(d) = j.contrast {
        field["contrast"] = json!((d * 10000.0).round() / 10000.0);
    }
    if let Some(error) = &j.error {
        field["error"] = json!(error);
    }
    if s.failed_by_pair {
        field["failed_by_pair"] = json!(true);
    }
    field
}
