//! The three judges `vet-score` can use, opened from the command line and
//! run over a batch of rows: the LM on ONNX Runtime, the embedding model,
//! and an LM behind an OpenAI-compatible API (same template, same
//! aggregation as the local LM, `--concurrency` rows at once).

use refinery_api::{map_all, ApiJudge, Failure};
use refinery_core::{Error, Result};
use refinery_lm::judge::{RESPONSE_NO_PREFIX_TEMPLATE, RESPONSE_TEMPLATE, SCENARIO_TEMPLATE};
use refinery_lm::{
    Definition, EmbedJudge, Embedder, Item, JudgeQuestion, Judgement, LikelihoodJudge, LmJudge,
};
use serde_json::json;

use crate::{verdict, Cli, JudgeKind, Pending, Stage, Thresholds};

pub enum AnyJudge {
    Lm(Box<LmJudge>),
    Embed(Box<EmbedJudge>),
    Likelihood(Box<LikelihoodJudge>),
    Api(Box<ApiJudge>),
}

impl AnyJudge {
    /// Rows scored at a time: a model batch, or enough rows to keep every
    /// request slot busy.
    pub fn batch_rows(&self, cli: &Cli) -> usize {
        match self {
            AnyJudge::Api(_) => 4 * cli.api.concurrency as usize,
            _ => cli.model.batch_size as usize,
        }
    }
}

/// The template: `--template FILE`, or the built-in one for the stage.
fn template(cli: &Cli) -> Result<String> {
    let builtin = match (cli.stage, cli.no_prefix) {
        (Stage::Scenario, _) => SCENARIO_TEMPLATE,
        (Stage::Response, false) => RESPONSE_TEMPLATE,
        (Stage::Response, true) => RESPONSE_NO_PREFIX_TEMPLATE,
    };
    JudgeQuestion::template(cli.template.as_deref(), builtin)
}

/// The judge and the name rows record in `judge`.
pub fn open_judge(
    cli: &Cli,
    definition: &Definition,
    trait_name: &str,
    tool: &refinery_core::Tool,
) -> Result<(AnyJudge, String)> {
    if cli.api.is_openai() {
        return open_api_judge(cli, definition, trait_name);
    }
    match cli.judge.unwrap_or(JudgeKind::Likelihood) {
        JudgeKind::Lm => {
            let question = JudgeQuestion {
                template: template(cli)?,
                answer_lead: cli.answer_lead.clone(),
                min_mass: cli.min_mass,
            };
            let (judge, model) = cli.model.lm_judge(tool, question, trait_name, definition)?;
            Ok((AnyJudge::Lm(Box::new(judge)), format!("lm:{model}")))
        }
        JudgeKind::Embed => {
            let embedder = Embedder::load(cli.model.model.as_deref(), cli.model.threads)?;
            let name = match &cli.model.model {
                Some(dir) => format!(
                    "embed:{}",
                    dir.file_name().unwrap_or_default().to_string_lossy()
                ),
                None => format!("embed:{}", refinery_lm::embed::DEFAULT_EMBED_MODEL),
            };
            let judge = EmbedJudge::new(embedder, definition, &cli.definition)?;
            Ok((AnyJudge::Embed(Box::new(judge)), name))
        }
        JudgeKind::Likelihood => {
            let (judge, model) = cli
                .model
                .likelihood_judge(tool, definition, &cli.definition)?;
            Ok((
                AnyJudge::Likelihood(Box::new(judge)),
                format!("likelihood:{model}"),
            ))
        }
    }
}

fn open_api_judge(
    cli: &Cli,
    definition: &Definition,
    trait_name: &str,
) -> Result<(AnyJudge, String)> {
    if cli.judge.is_some_and(|j| j != JudgeKind::Lm) || cli.model.model.is_some() {
        return Err(Error::usage(
            "--backend openai judges with the server's LM: --judge embed, --judge likelihood and --model are for --backend onnx",
        ));
    }
    let model = cli.api.model_name()?.to_string();
    let judge = ApiJudge {
        client: cli.api.client()?,
        name: format!("api:{model}"),
        model,
        raw: cli.model.raw,
        template: template(cli)?,
        trait_name: trait_name.to_string(),
        definition: definition.text.clone(),
        answer_lead: cli.answer_lead.clone(),
        min_mass: cli.min_mass,
        seed: cli.seed,
        followups: cli.followups,
        top_logprobs: cli.top_logprobs as usize,
    };
    let name = judge.name.clone();
    Ok((AnyJudge::Api(Box::new(judge)), name))
}

/// Everything that changes an API judge's score, for `input_hash`.
pub fn settings(cli: &Cli, judge: &AnyJudge) -> Option<String> {
    let AnyJudge::Api(j) = judge else { return None };
    Some(
        json!({
            "tool": "vet-score", "stage": format!("{:?}", cli.stage), "model": j.model, "raw": j.raw,
            "template": j.template, "trait": j.trait_name, "definition": j.definition,
            "answer_lead": j.answer_lead, "words": cli.words, "no_prefix": cli.no_prefix,
            "min_mass": j.min_mass, "seed": j.seed, "followups": format!("{:?}", j.followups),
            "top_logprobs": j.top_logprobs,
        })
        .to_string(),
    )
}

fn item(p: &Pending) -> Item<'_> {
    Item {
        prompt: &p.prompt,
        response: p.response.as_deref(),
    }
}

/// What the likelihood judge reads: the scenario, or the scenario and the
/// start of the response (the response alone with --no-prefix).
fn judged_text(p: &Pending, cli: &Cli) -> String {
    match (cli.stage, p.response.as_deref()) {
        (Stage::Response, Some(r)) if cli.no_prefix => r.to_string(),
        (Stage::Response, Some(r)) if p.prompt.ends_with(char::is_whitespace) => {
            format!("{}{r}", p.prompt)
        }
        (Stage::Response, Some(r)) => format!("{} {r}", p.prompt),
        _ => p.prompt.clone(),
    }
}

/// Scores the rows that have no judgement yet (rows reused by `--resume`
/// already have theirs) and gives each its verdict.
pub fn score_batch(
    judge: &mut AnyJudge,
    batch: &mut [Pending],
    cli: &Cli,
    t: Thresholds,
) -> Result<()> {
    let todo: Vec<usize> = (0..batch.len())
        .filter(|&i| batch[i].judgement.is_none())
        .collect();
    let judgements: Vec<Judgement> = match judge {
        AnyJudge::Lm(j) => todo
            .iter()
            .map(|&i| j.judge(&item(&batch[i])))
            .collect::<Result<_>>()?,
        AnyJudge::Embed(j) => {
            let texts: Vec<&str> = todo
                .iter()
                .map(|&i| match cli.stage {
                    Stage::Scenario => batch[i].prompt.as_str(),
                    Stage::Response => batch[i].response.as_deref().unwrap_or(""),
                })
                .collect();
            j.judge_batch(&texts)?
        }
        AnyJudge::Likelihood(j) => todo
            .iter()
            .map(|&i| j.judge(&judged_text(&batch[i], cli)))
            .collect::<Result<_>>()?,
        AnyJudge::Api(j) => {
            let rows: Vec<&Pending> = todo.iter().map(|&i| &batch[i]).collect();
            let results = map_all(rows, cli.api.concurrency as usize, |p| j.judge(&item(p)));
            results
                .into_iter()
                .collect::<Result<_, Failure>>()
                .map_err(Error::from)?
        }
    };
    for (i, j) in todo.into_iter().zip(judgements) {
        batch[i].judgement = Some(j);
    }
    for p in batch.iter_mut() {
        let score = p.judgement.as_ref().and_then(|j| j.score);
        p.scored.score = score;
        p.scored.verdict = verdict(p.scored.polarity, score, t);
    }
    Ok(())
}
