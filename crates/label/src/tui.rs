//! The terminal screen: draws the session, maps real keys to form keys, and
//! puts the terminal back however the loop ends.

use std::io::{self, Write};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, queue, style, terminal};
use serde_json::Value;

use refinery_core::{Error, Result, Row};

use crate::form::{suggestion, Key, FIELDS};
use crate::session::{Outcome, Session};

pub const KEYS_HELP: &str = "←/→ step 0.1 · type a value · ↑/↓ or Enter move · Tab completes · \
Enter on tags or Ctrl-S saves · Ctrl-N skips · Ctrl-U undoes · Ctrl-Q quits";

/// Raw mode and the alternate screen, undone on drop (also on an error).
struct Screen;

impl Screen {
    fn enter() -> io::Result<Screen> {
        terminal::enable_raw_mode()?;
        execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)?;
        Ok(Screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = execute!(io::stdout(), cursor::Show, terminal::LeaveAlternateScreen);
        let _ = terminal::disable_raw_mode();
    }
}

/// Runs the session until the rater quits.
pub fn run(session: &mut Session) -> Result<()> {
    let tty = |e: io::Error| Error::io("<terminal>", e);
    let _screen = Screen::enter().map_err(tty)?;
    loop {
        draw(session).map_err(tty)?;
        let Event::Key(key) = event::read().map_err(tty)? else {
            continue; // a resize: draw again
        };
        let Some(key) = form_key(key) else { continue };
        if session.press(key)? == Outcome::Quit {
            return Ok(());
        }
    }
}

fn form_key(key: KeyEvent) -> Option<Key> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('s') if ctrl => Key::Save,
        KeyCode::Char('n') if ctrl => Key::Skip,
        KeyCode::Char('u') if ctrl => Key::Undo,
        KeyCode::Char('q' | 'c') if ctrl => Key::Quit,
        KeyCode::Char(_) if ctrl => return None,
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Up | KeyCode::BackTab => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Tab => Key::Tab,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Quit,
        _ => return None,
    })
}

fn draw(session: &Session) -> io::Result<()> {
    let (width, _) = terminal::size().unwrap_or((80, 24));
    let width = usize::from(width.max(20));
    let mut out = io::stdout().lock();
    queue!(
        out,
        terminal::Clear(terminal::ClearType::All),
        cursor::MoveTo(0, 0)
    )?;
    for line in screen_lines(session, width) {
        queue!(out, style::Print(line), style::Print("\r\n"))?;
    }
    out.flush()
}

/// The screen as lines of text; separate from drawing so it can be read in tests.
pub fn screen_lines(session: &Session, width: usize) -> Vec<String> {
    let mut lines = vec![format!(
        "label {} · {}/{} candidates · {} labelled{}",
        session.candidates_name(),
        (session.position + 1).min(session.candidates.len()),
        session.candidates.len(),
        session.labelled_count(),
        if session.resumed > 0 {
            format!(" (resumed after {})", session.resumed)
        } else {
            String::new()
        }
    )];
    lines.extend(wrap(&progress_line(session), width));
    lines.push(String::new());
    match session.candidates.get(session.position) {
        None => lines
            .push("All candidates are done. Ctrl-U undoes the last answer, Ctrl-Q quits.".into()),
        Some(row) => candidate_lines(row, width, session.shows_suggestions(), &mut lines),
    }
    lines.push(String::new());
    if !session.done() {
        form_lines(session, &mut lines);
    }
    lines.push(String::new());
    if let Some(message) = &session.form.message {
        lines.push(message.clone());
    }
    lines.extend(wrap(KEYS_HELP, width));
    lines
}

fn progress_line(session: &Session) -> String {
    let parts: Vec<String> = session
        .targets
        .iter()
        .map(|t| format!("{} {}/{}", t.name, session.count_of(&t.name), t.target))
        .collect();
    format!("targets: {}", parts.join(" · "))
}

fn candidate_lines(row: &Row, width: usize, suggestions: bool, lines: &mut Vec<String>) {
    if let Some(Value::Array(turns)) = row.get("context") {
        let previous = turns.len().saturating_sub(1);
        for turn in &turns[..previous] {
            let turn = turn
                .as_str()
                .map_or_else(|| turn.to_string(), str::to_string);
            lines.extend(wrap(&format!("context: {turn}"), width));
        }
    }
    let text = row.get("text").and_then(Value::as_str).unwrap_or("");
    lines.extend(wrap(&format!("» {text}"), width));
    let provenance: Vec<String> = [
        "source",
        "session_id",
        "file",
        "line",
        "id",
        "probe",
        "comment_id",
    ]
    .iter()
    .filter_map(|f| {
        row.get(*f)
            .filter(|v| !v.is_null())
            .map(|v| format!("{f}={}", plain(v)))
    })
    .collect();
    lines.push(format!("  from: {}", provenance.join(" ")));
    if !suggestions {
        return;
    }
    let mut suggested = Vec::new();
    if let Some(a) = row.get("archetype").and_then(Value::as_str) {
        suggested.push(format!("archetype={a}"));
    }
    for axis in ["valence", "intimacy", "tension"] {
        if let Some(x) = suggestion(row, axis) {
            suggested.push(format!("{axis}={x}"));
        }
    }
    if !suggested.is_empty() {
        lines.push(format!("  suggested, not labels: {}", suggested.join(" ")));
    }
}

fn form_lines(session: &Session, lines: &mut Vec<String>) {
    let form = &session.form;
    for (i, field) in FIELDS.iter().enumerate() {
        let value = match i {
            0..=3 if !form.given[i] => "—".to_string(),
            0..=3 => format!("{:+.2}", form.answer.numbers[i]),
            4 => form
                .answer
                .archetype
                .clone()
                .unwrap_or_else(|| "(none)".into()),
            _ => form.answer.tags.join(", "),
        };
        let focus = i == form.focus;
        let typing = if focus && !form.typed.is_empty() {
            format!("  ← {}_", form.typed)
        } else {
            String::new()
        };
        let marker = if focus { ">" } else { " " };
        let range = field
            .range()
            .map_or(String::new(), |(lo, hi)| format!(" [{lo}, {hi}]"));
        lines.push(format!(
            "{marker} {:<11}{value}{typing}{range}",
            field.name()
        ));
    }
}

fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// Breaks text into lines of at most `width` characters, at spaces where possible.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let fits = line.chars().count() + word.chars().count() < width;
        if !line.is_empty() && !fits {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.chars().count() > width {
            let head: String = line.chars().take(width).collect();
            line = line.chars().skip(width).collect();
            lines.push(head);
        }
    }
    lines.push(line);
    lines
}
