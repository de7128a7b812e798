//! `expand-scenarios`: the loop's scale-up step. From pairs that passed
//! every stage, new pairs in their style: few-shot prompts of example pairs
//! to a local causal LM or an OpenAI-compatible server, sampled with a seed, near-duplicates of known
//! scenarios dropped, pairs kept aligned, every row marked as generated.
//!
//! ```text
//! expand-scenarios --positive passed/positive.txt --negative passed/negative.txt \
//!     --avoid positive.txt --avoid negative.txt -n 50 --seed 1 --out more/ > more.jsonl
//! ```

mod backend;

use std::collections::HashSet;
use std::path::PathBuf;

use clap::Parser;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use refinery_api::ApiArgs;
use refinery_core::text::text_key;
use refinery_core::trait_files::{paired_lines, scenario_lines, trait_name};
use refinery_core::writer::{write_file_atomically, JsonlWriter};
use refinery_core::{Error, MessageArgs, Result, Tool};
use refinery_lm::Sampling;
use serde_json::json;

pub use backend::{Completion, Writer};

const AFTER_HELP: &str = "\
Each new pair comes from one few-shot prompt: --shots example pairs drawn with the
seed from --positive/--negative (give it the pairs that passed: make refine's
export, trait-interp/positive.txt and negative.txt), written as

  Positive: <scenario>
  Negative: <its twin>

after a line saying what the pairs are; the model continues `Positive:` to the end
of the line, then `Negative:` after it. The model (default: the judges' model,
Qwen2.5-Coder-1.5B-Instruct when fetched, as it writes far better than SmolLM2)
samples at --temperature/--top-p, each attempt on its own random stream of --seed:
the same files and seed give the same pairs.

--backend openai sends the same prompts to a server's completions endpoint
(--api-model names the model; a base or instruct model served as plain text), a
seed per attempt derived from --seed; as with generate, a server gives the same
pairs again only if it samples reproducibly (llama.cpp's server: --concurrency 1). A
request that fails after its retries drops that attempt.

A pair is dropped when either side is empty, longer than 400 characters, cut off
by --max-new-tokens, or the same text (after Unicode, case and whitespace
normalisation: the shared text key) as an example, a scenario in an --avoid file,
or an earlier new scenario. Attempts stop at -n pairs or 4n attempts.

Output: a row per scenario, pairs aligned and numbered from 0: {prompt, polarity,
pair, trait, generated: {model, seed, attempt, examples}} (`examples`: the
example pairs' numbers), ready for vet-score and generate; --out DIR also writes
DIR/positive.txt and DIR/negative.txt.";

/// New scenario pairs in the style of pairs that passed
#[derive(Parser, Debug)]
#[command(name = "expand-scenarios", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// Example positive scenarios (one a line), paired with --negative by order
    #[arg(long, value_name = "FILE")]
    pub positive: PathBuf,

    /// Example negative scenarios
    #[arg(long, value_name = "FILE")]
    pub negative: PathBuf,

    /// Scenario files whose lines the new scenarios must not repeat
    #[arg(long, value_name = "FILE")]
    pub avoid: Vec<PathBuf>,

    /// New pairs wanted
    #[arg(short = 'n', long, value_name = "N", default_value_t = 20)]
    pub pairs: usize,

    /// Example pairs in each prompt
    #[arg(long, value_name = "K", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub shots: u16,

    /// Seed of the example draws and the sampling
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    pub seed: u64,

    /// Sampling temperature
    #[arg(long, value_name = "T", default_value_t = 0.9)]
    pub temperature: f32,

    /// Nucleus sampling: the smallest set of tokens holding this much probability
    #[arg(long, value_name = "P", default_value_t = 0.95)]
    pub top_p: f32,

    /// Most new tokens for one scenario
    #[arg(long, value_name = "N", default_value_t = 80)]
    pub max_new_tokens: usize,

    /// The trait's name [default: the directory holding --positive]
    #[arg(long = "trait", value_name = "NAME")]
    pub trait_name: Option<String>,

    /// Also write the new pairs as DIR/positive.txt and DIR/negative.txt
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub api: ApiArgs,

    /// Model directory [default: the judges' model when fetched, else SmolLM2]
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,

    /// Prompts run through the model together
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub batch_size: u16,

    #[command(flatten)]
    pub messages: MessageArgs,
}

refinery_core::impl_command!(Cli, messages.quiet, run);

/// The line every prompt opens with.
pub fn preamble(trait_name: &str) -> String {
    format!(
        "Pairs of scenario openings for studying the trait \"{trait_name}\". In each pair the \
         Positive opening leads the speaker to show the trait and its Negative twin, the same \
         situation, leads away from it. Each ends mid-sentence, right before the speaker's own words.\n\n"
    )
}

/// The few-shot prompt for one attempt, up to `Positive:`.
pub fn few_shot(preamble: &str, examples: &[(&str, &str)]) -> String {
    let mut text = preamble.to_string();
    for (p, n) in examples {
        text.push_str(&format!("Positive: {p}\nNegative: {n}\n\n"));
    }
    text.push_str("Positive:");
    text
}

/// Keys of scenarios already known, and the checks a new one must pass.
pub struct Known(HashSet<u128>);

impl Known {
    pub fn new<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        Known(texts.into_iter().map(text_key).collect())
    }

    /// The scenario as written, or why it is dropped.
    pub fn check(
        &self,
        generated: &str,
        finished: bool,
    ) -> std::result::Result<String, &'static str> {
        let text = generated.trim();
        if !finished {
            return Err("cut off");
        }
        if text.is_empty() {
            return Err("empty");
        }
        if text.chars().count() > 400 {
            return Err("too long");
        }
        if self.0.contains(&text_key(text)) {
            return Err("a duplicate");
        }
        Ok(text.to_string())
    }

    pub fn add(&mut self, text: &str) {
        self.0.insert(text_key(text));
    }
}

/// One attempt: its example pairs and prompt.
struct Attempt {
    number: u64,
    examples: Vec<usize>,
    prompt: String,
}

/// Runs the tool on a parsed command line.
pub fn run(cli: Cli, tool: &mut Tool) -> Result<()> {
    if cli.pairs == 0 {
        return Err(Error::usage("-n must be at least 1"));
    }
    let text =
        |lines: Vec<(u64, String)>| -> Vec<String> { lines.into_iter().map(|(_, s)| s).collect() };
    let (pos, neg) = paired_lines(&cli.positive, &cli.negative)?;
    let (pos, neg) = (text(pos), text(neg));
    if pos.is_empty() {
        return Err(Error::usage(format!(
            "{} has no scenario: the new pairs are written in the style of example pairs",
            cli.positive.display()
        )));
    }
    let name = trait_name(cli.trait_name.as_deref(), &cli.positive, "--positive", tool)?;
    let mut known = Known::new(pos.iter().chain(&neg).map(String::as_str));
    for path in &cli.avoid {
        for (_, line) in scenario_lines(path)? {
            known.add(&line);
        }
    }
    let sampling = Sampling {
        temperature: cli.temperature,
        top_p: cli.top_p,
        top_k: 0,
        seed: cli.seed,
    };
    let (mut writer, model) = Writer::open(
        &cli.api,
        cli.model.clone(),
        cli.batch_size,
        sampling,
        cli.max_new_tokens,
        tool,
    )?;
    let preamble = preamble(&name);
    let mut draw = rand_chacha::ChaCha8Rng::seed_from_u64(cli.seed);
    let shots = (cli.shots as usize).min(pos.len());
    let mut pairs: Vec<(String, String, Vec<usize>, u64)> = Vec::new();
    let mut dropped = std::collections::BTreeMap::<&str, usize>::new();
    let max_attempts = 4 * cli.pairs as u64;
    let mut next = 0u64;
    while pairs.len() < cli.pairs && next < max_attempts {
        let batch: Vec<Attempt> = (next..max_attempts.min(next + u64::from(cli.batch_size)))
            .map(|number| {
                let mut order: Vec<usize> = (0..pos.len()).collect();
                order.shuffle(&mut draw);
                order.truncate(shots);
                let examples: Vec<(&str, &str)> = order
                    .iter()
                    .map(|&i| (pos[i].as_str(), neg[i].as_str()))
                    .collect();
                Attempt {
                    number,
                    prompt: few_shot(&preamble, &examples),
                    examples: order,
                }
            })
            .collect();
        next += batch.len() as u64;
        let positives =
            writer.complete(batch.iter().map(|a| (a.number, a.prompt.clone())).collect())?;
        let mut second = Vec::new();
        for (a, completion) in batch.iter().zip(positives) {
            match completion.and_then(|(text, finished)| known.check(&text, finished)) {
                Ok(p) => second.push((a, format!("{} {p}\nNegative:", a.prompt), p)),
                Err(why) => *dropped.entry(why).or_default() += 1,
            }
        }
        // The negative's stream differs from the positive's (high bit).
        let negatives = writer.complete(
            second
                .iter()
                .map(|(a, prompt, _)| (a.number | 1 << 63, prompt.clone()))
                .collect(),
        )?;
        for ((a, _, p), completion) in second.into_iter().zip(negatives) {
            if pairs.len() == cli.pairs {
                break;
            }
            // Two attempts of one batch may write the same positive.
            if known.check(&p, true).is_err() {
                *dropped.entry("a duplicate").or_default() += 1;
                continue;
            }
            match completion.and_then(|(text, finished)| known.check(&text, finished)) {
                Ok(n) if text_key(&n) != text_key(&p) => {
                    known.add(&p);
                    known.add(&n);
                    pairs.push((p, n, a.examples.clone(), a.number));
                }
                Ok(_) => *dropped.entry("a duplicate").or_default() += 1,
                Err(why) => *dropped.entry(why).or_default() += 1,
            }
        }
    }
    let mut out = JsonlWriter::stdout();
    for (i, (p, n, examples, attempt)) in pairs.iter().enumerate() {
        for (prompt, polarity) in [(p, "positive"), (n, "negative")] {
            let row = json!({
                "prompt": prompt, "polarity": polarity, "pair": i, "trait": name,
                "generated": {"model": model, "seed": cli.seed, "attempt": attempt, "examples": examples},
            });
            out.write_raw_line(&serde_json::to_vec(&row).expect("a row serialises"))?;
        }
    }
    out.flush()?;
    if let Some(dir) = &cli.out {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let file = |side: usize| -> String {
            pairs
                .iter()
                .map(|t| format!("{}\n", if side == 0 { &t.0 } else { &t.1 }))
                .collect()
        };
        write_file_atomically(dir.join("positive.txt"), &file(0))?;
        write_file_atomically(dir.join("negative.txt"), &file(1))?;
    }
    let why: Vec<String> = dropped.iter().map(|(w, n)| format!("{n} {w}")).collect();
    tool.note(&format!(
        "{} new pairs from {next} attempts with {model}{}",
        pairs.len(),
        if why.is_empty() {
            String::new()
        } else {
            format!(" (dropped: {})", why.join(", "))
        }
    ));
    if pairs.len() < cli.pairs {
        tool.say(&format!(
            "warning: {} of the {} pairs asked for; more examples, another --seed or a higher --temperature may give more",
            pairs.len(),
            cli.pairs
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_lists_the_examples_and_asks_for_a_positive() {
        let p = few_shot("Pairs.\n\n", &[("He asked, so I", "She asked, so I")]);
        assert_eq!(
            p,
            "Pairs.\n\nPositive: He asked, so I\nNegative: She asked, so I\n\nPositive:"
        );
    }

    #[test]
    fn new_scenarios_must_be_new_whole_lines() {
        let mut known = Known::new(["He asked what I thought, so I"]);
        assert_eq!(
            known.check("  She smiled and ", true),
            Ok("She smiled and".into())
        );
        assert_eq!(
            known.check(" he ASKED what I  thought, so I", true),
            Err("a duplicate")
        );
        assert_eq!(known.check("She smiled and", false), Err("cut off"));
        assert_eq!(known.check("   ", true), Err("empty"));
        assert_eq!(known.check(&"a".repeat(401), true), Err("too long"));
        known.add("She smiled and");
        assert_eq!(known.check("she smiled AND", true), Err("a duplicate"));
    }
}
