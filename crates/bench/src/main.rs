//! `refinery-synth`: writes deterministic synthetic datasets for the
//! benchmarks (`make bench`): the same seed gives the same bytes.
//!
//! ```text
//! refinery-synth affect --rows 1000000 > affect.jsonl   # affect rows
//! refinery-synth chat --messages 250000 > chat.jsonl     # interleaved chat messages
//! ```

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

const WORDS: &[&str] = &[
    "I",
    "you",
    "we",
    "never",
    "always",
    "said",
    "home",
    "late",
    "again",
    "please",
    "stop",
    "tell",
    "me",
    "why",
    "honestly",
    "miss",
    "love",
    "hate",
    "fine",
    "tired",
    "numb",
    "scared",
    "door",
    "night",
    "call",
    "text",
    "promise",
    "sorry",
    "whatever",
    "laugh",
    "joke",
    "boundary",
    "uncomfortable",
    "tomorrow",
    "together",
    "alone",
    "work",
    "again",
    "really",
    "just",
    "feel",
    "nothing",
    "everything",
    "okay",
    "not",
    "the",
    "a",
    "to",
    "and",
    "it",
    "that",
    "this",
];
const TAGS: &[&str] = &[
    "affection",
    "care",
    "tension",
    "argument",
    "fear",
    "numb",
    "teasing",
    "routine",
    "boundary",
    "gratitude",
];
const ARCHETYPES: &[&str] = &[
    "hostile_intimacy",
    "aggressive_distance",
    "neutral_but_close",
    "flat_numb",
    "fearful_urgent",
    "playful_neutral",
    "safety_edge_cases",
];
const SOURCES: &[&str] = &["manual_chat", "goemotions", "synthetic_probe"];
const ROLES: &[&str] = &["user", "assistant"];

/// Write deterministic synthetic datasets for benchmarks
#[derive(Parser)]
#[command(name = "refinery-synth")]
struct Cli {
    #[command(subcommand)]
    kind: Kind,
    /// Random seed
    #[arg(long, global = true, default_value_t = 7)]
    seed: u64,
}

#[derive(Subcommand)]
enum Kind {
    /// Affect rows (validate's affect schema, about 300 bytes each)
    Affect {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
    },
    /// Chat messages, one per line, sessions interleaved
    Chat {
        #[arg(long, default_value_t = 250_000)]
        messages: u64,
    },
}

fn sentence(rng: &mut ChaCha8Rng, words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS.choose(rng).expect("words"));
    }
    s.push('.');
    s
}

fn axis(rng: &mut ChaCha8Rng) -> f64 {
    (rng.gen_range(-100i32..=100) as f64) / 100.0
}

fn affect_row(rng: &mut ChaCha8Rng, i: u64) -> serde_json::Value {
    let words = rng.gen_range(12..28);
    let text = sentence(rng, words);
    let n_tags = rng.gen_range(1..=3);
    let mut tags: Vec<&str> = TAGS.choose_multiple(rng, n_tags).copied().collect();
    let archetype = ARCHETYPES.choose(rng).expect("archetypes");
    tags.insert(0, archetype);
    json!({
        "text": text,
        "valence": axis(rng),
        "intimacy": axis(rng),
        "tension": axis(rng),
        "confidence": (rng.gen_range(0..=100) as f64) / 100.0,
        "tags": tags,
        "source": SOURCES.choose(rng).expect("sources"),
        "session_id": format!("s{:06}", i / 8),
        "context": [sentence(rng, 6), "…"],
        "archetype": archetype,
    })
}

fn chat_message(rng: &mut ChaCha8Rng, i: u64) -> serde_json::Value {
    // About 40 sessions open at once, so a session's messages interleave.
    let session = i / 40 * 40 / 12 + rng.gen_range(0..4);
    let words = rng.gen_range(4..24);
    let text = sentence(rng, words);
    json!({
        "id": format!("m{i:08}"),
        "session_id": format!("conv{session:06}"),
        "role": ROLES.choose(rng).expect("roles"),
        "timestamp": 1_700_000_000 + i * 7,
        "text": text,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut rng = ChaCha8Rng::seed_from_u64(cli.seed);
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let (count, make): (u64, fn(&mut ChaCha8Rng, u64) -> serde_json::Value) = match cli.kind {
        Kind::Affect { rows } => (rows, affect_row),
        Kind::Chat { messages } => (messages, chat_message),
    };
    for i in 0..count {
        let row = make(&mut rng, i);
        if serde_json::to_writer(&mut out, &row).is_err() || out.write_all(b"\n").is_err() {
            return ExitCode::from(2);
        }
    }
    if out.flush().is_err() {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
