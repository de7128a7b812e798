//! The labelling state machine without a terminal: keys in, rows out,
//! resume after a restart, undo.

use refinery_core::config::load_targets;
use refinery_core::rejects::read_file_rows;
use refinery_label::form::Key;
use refinery_label::session::{Rater, Session};
use refinery_testkit::fixture;
use serde_json::Value;

fn clock() -> String {
    "2026-11-22T12:00:00Z".into()
}

fn rater() -> Rater {
    Rater {
        name: "ana".into(),
        clock,
        suggestions: false,
    }
}

fn open_as(out: &std::path::Path, rater: Rater) -> Session {
    Session::open(
        read_file_rows(&fixture("label/candidates.jsonl")).unwrap(),
        "candidates.jsonl".into(),
        out,
        load_targets(None).unwrap(),
        rater,
        None,
    )
    .unwrap()
}

fn open(out: &std::path::Path) -> Session {
    open_as(out, rater())
}

fn keys(session: &mut Session, keys: &[Key]) {
    for key in keys {
        session.press(key.clone()).unwrap();
    }
}

fn typed(text: &str) -> Vec<Key> {
    text.chars().map(Key::Char).collect()
}

fn rows(out: &std::path::Path) -> Vec<serde_json::Map<String, Value>> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// On a blind form: valence and intimacy typed, tension by arrows (the
/// first step puts it at 0, then up), confidence typed, archetype by Tab
/// completion, a tag, saved by Enter.
fn answer_first(session: &mut Session) {
    let mut k = typed("-0.9");
    k.push(Key::Enter);
    k.extend(typed("0.45"));
    k.push(Key::Enter);
    k.extend(std::iter::repeat_n(Key::Right, 8));
    k.push(Key::Enter);
    k.extend(typed("0.9"));
    k.push(Key::Enter);
    k.extend(typed("hostile_i"));
    k.extend([Key::Tab, Key::Enter]);
    k.extend(typed("argument"));
    k.push(Key::Enter);
    keys(session, &k);
}

#[test]
fn answers_become_rows_in_the_seed_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("labelled.jsonl");
    let mut s = open(&out);
    answer_first(&mut s);
    let got = rows(&out);
    assert_eq!(got.len(), 1, "the answer is on disk at once");
    let row = &got[0];
    assert_eq!(row["valence"], serde_json::json!(-0.9));
    assert_eq!(row["intimacy"], serde_json::json!(0.45));
    assert_eq!(row["tension"], serde_json::json!(0.7));
    assert_eq!(row["confidence"], serde_json::json!(0.9));
    assert_eq!(row["archetype"], "hostile_intimacy");
    assert_eq!(
        row["tags"],
        serde_json::json!(["hostile_intimacy", "argument"])
    );
    assert_eq!(row["labelled_by"], "ana");
    assert_eq!(row["labelled_at"], "2026-11-22T12:00:00Z");
    assert_eq!(row["labelled_with_suggestions"], false);
    assert_eq!(row["session_id"], "s01", "candidate fields are kept");
    assert_eq!(s.position, 1);
    assert_eq!(s.count_of("hostile_intimacy"), 1);
    s.count_also(&[fixture("golden/map-archetype/goemotions.jsonl")])
        .unwrap();
    let in_dataset = std::fs::read_to_string(fixture("golden/map-archetype/goemotions.jsonl"))
        .unwrap()
        .matches("\"archetype\":\"hostile_intimacy\"")
        .count() as u64;
    assert!(in_dataset > 0);
    assert_eq!(s.count_of("hostile_intimacy"), 1 + in_dataset);
}

#[test]
fn refused_values_are_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("labelled.jsonl");
    let mut s = open(&out);
    let mut k = typed("1.7");
    k.push(Key::Save);
    keys(&mut s, &k);
    assert!(s
        .form
        .message
        .as_deref()
        .unwrap()
        .contains("outside [-1, 1]"));
    assert!(rows(&out).is_empty());
    keys(
        &mut s,
        &[
            Key::Backspace,
            Key::Backspace,
            Key::Backspace,
            Key::Down,
            Key::Down,
            Key::Down,
            Key::Down,
        ],
    );
    keys(&mut s, &typed("cautious"));
    keys(&mut s, &[Key::Save]);
    assert!(s
        .form
        .message
        .as_deref()
        .unwrap()
        .contains("unknown \"cautious\""));
    assert!(rows(&out).is_empty());
}

#[test]
fn a_restart_resumes_after_the_last_answer_and_skips_are_not_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("labelled.jsonl");
    let mut s = open(&out);
    keys(&mut s, &[Key::Skip]);
    answer_first(&mut s); // answers candidate 2
    assert_eq!(s.position, 2);
    drop(s);
    let mut s = open(&out);
    assert_eq!((s.position, s.resumed), (2, 1));
    keys(&mut s, &[Key::Save]);
    assert_eq!(s.position, 2, "a blind form with no values is not saved");
    answer_first(&mut s);
    answer_first(&mut s);
    assert!(s.done());
    let texts: Vec<String> = rows(&out)
        .iter()
        .map(|r| r["text"].as_str().unwrap()[..12].to_string())
        .collect();
    assert_eq!(texts, ["someone keep", "I swear if y", "This is the "]);
}

#[test]
fn undo_removes_the_last_answer_and_brings_it_back_to_the_form() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("labelled.jsonl");
    let mut s = open(&out);
    answer_first(&mut s);
    answer_first(&mut s);
    assert_eq!(rows(&out).len(), 2);
    keys(&mut s, &[Key::Undo]);
    assert_eq!(rows(&out).len(), 1);
    assert_eq!(s.position, 1);
    keys(&mut s, &[Key::Undo]);
    assert!(rows(&out).is_empty());
    assert_eq!(s.position, 0);
    assert_eq!(s.form.answer.numbers, [-0.9, 0.45, 0.7, 0.9]);
    assert_eq!(s.form.answer.tags, ["argument"]);
    assert_eq!(s.count_of("hostile_intimacy"), 0);
    keys(&mut s, &[Key::Undo]);
    assert_eq!(s.form.message.as_deref(), Some("nothing to undo"));
    // undone, then resumed: starts at the undone candidate
    drop(s);
    assert_eq!(open(&out).position, 0);
}

#[test]
fn a_cut_short_output_file_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("labelled.jsonl");
    std::fs::write(&out, "{\"text\": \"a\"}\n{\"text\": ").unwrap();
    let err = Session::open(
        read_file_rows(&fixture("label/candidates.jsonl")).unwrap(),
        "candidates.jsonl".into(),
        &out,
        load_targets(None).unwrap(),
        rater(),
        None,
    )
    .err()
    .unwrap();
    assert!(format!("{err}").contains("labelled.jsonl:2"), "{err}");
}

#[test]
fn a_candidate_without_text_is_named_by_its_line_blank_lines_counted() {
    let dir = tempfile::tempdir().unwrap();
    let candidates = dir.path().join("candidates.jsonl");
    std::fs::write(&candidates, "{\"text\":\"a\"}\n\n{\"id\":2}\n").unwrap();
    let error = Session::open(
        read_file_rows(&candidates).unwrap(),
        "candidates.jsonl".into(),
        &dir.path().join("out.jsonl"),
        load_targets(None).unwrap(),
        rater(),
        None,
    )
    .err()
    .expect("a candidate without text is refused")
    .to_string();
    assert!(
        error.ends_with("candidates.jsonl:3: text: missing (a candidate needs the text to label)"),
        "{error}"
    );
}

#[test]
fn with_suggestions_the_form_starts_from_the_predictions_and_rows_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("labelled.jsonl");
    let mut s = open_as(
        &out,
        Rater {
            suggestions: true,
            ..rater()
        },
    );
    assert!(s.shows_suggestions());
    // -0.7 predicted, two steps left; intimacy and tension as predicted
    let mut k = vec![Key::Left, Key::Left, Key::Enter, Key::Enter, Key::Enter];
    // confidence is never pre-filled: Ctrl-S is refused until it is given
    k.push(Key::Save);
    keys(&mut s, &k);
    assert!(s
        .form
        .message
        .as_deref()
        .unwrap()
        .contains("give confidence"));
    keys(&mut s, &typed("0.7"));
    keys(&mut s, &[Key::Save]);
    let got = rows(&out);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["valence"], serde_json::json!(-0.9));
    assert_eq!(got[0]["intimacy"], serde_json::json!(0.6));
    assert_eq!(got[0]["confidence"], serde_json::json!(0.7));
    assert_eq!(got[0]["archetype"], "hostile_intimacy");
    assert_eq!(got[0]["labelled_with_suggestions"], true);
}
