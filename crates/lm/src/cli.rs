//! The model options every model-running tool takes (`--model`, `--chat`,
//! `--raw`, `--batch-size`, `--threads`), and how the
//! crate's errors become the tools' exit statuses.

use std::path::PathBuf;

use clap::Args;
use refinery_core::{Error, Tool};

use crate::decoder::LoadOptions;
use crate::definition::Definition;
use crate::error::LmError;
use crate::judge::{JudgeQuestion, LmJudge};
use crate::likelihood::LikelihoodJudge;
use crate::model::CausalLm;
use crate::prompt::PromptMode;

/// The model options every model-running tool takes, flattened into its `Cli`.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Model directory holding model.onnx, tokenizer.json and lm.json
    /// [default: SmolLM2-135M-Instruct from the project cache, see `make
    /// models`; the judges: Qwen2.5-Coder-1.5B-Instruct when fetched. The
    /// cache is $REFINERY_CACHE, else ~/.cache/refinery if it exists, else
    /// .cache/refinery in the source tree the tools were built from]
    #[arg(long, value_name = "DIR", help_heading = "Model options")]
    pub model: Option<PathBuf>,

    /// Format prompts with the model's chat template (system + user, then the
    /// assistant's turn) [default when lm.json has a chat template]
    #[arg(long, conflicts_with = "raw", help_heading = "Model options")]
    pub chat: bool,

    /// Give the model the prompt text as it is, to continue (base models,
    /// scenario prefixes) [default when lm.json has no chat template]
    #[arg(long, help_heading = "Model options")]
    pub raw: bool,

    /// Prompts run through the model together
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..), help_heading = "Model options")]
    pub batch_size: u16,

    /// ONNX Runtime threads [default: one per core]
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        help_heading = "Model options"
    )]
    pub threads: usize,
}

impl ModelArgs {
    /// The model `--model` names, or the default model (`make models`).
    pub fn load(&self) -> refinery_core::Result<CausalLm> {
        Ok(CausalLm::load(
            self.model.as_deref(),
            &LoadOptions {
                threads: self.threads,
            },
        )?)
    }

    /// The judges' model: `--model`, else the default judge model when
    /// `make models` has fetched it, else the default model. Returns the
    /// model, the name rows record, and a note when it fell back.
    pub fn load_judge(&self) -> refinery_core::Result<(CausalLm, String, Option<String>)> {
        let options = LoadOptions {
            threads: self.threads,
        };
        if self.model.is_some() {
            let lm = self.load()?;
            let name = self.model_name(&lm);
            return Ok((lm, name, None));
        }
        if let Some(dir) = crate::config::default_judge_dir() {
            let lm = CausalLm::load(Some(&dir), &options)?;
            return Ok((lm, crate::config::DEFAULT_JUDGE_MODEL.to_string(), None));
        }
        let lm = CausalLm::load(None, &options)?;
        let note = format!(
            "the default judge model ({}) is not in the cache (`make models` fetches it): judging with {}, \
             which separates few traits (see the self-check below)",
            crate::config::DEFAULT_JUDGE_MODEL,
            crate::config::DEFAULT_MODEL
        );
        Ok((lm, crate::config::DEFAULT_MODEL.to_string(), Some(note)))
    }

    /// The LM judge on the judges' model ([`Self::load_judge`]), saying on
    /// stderr when it fell back. Returns the judge and its model's name (rows
    /// record `lm:MODEL` in `judge`).
    pub fn lm_judge(
        &self,
        tool: &Tool,
        question: JudgeQuestion,
        trait_name: &str,
        definition: &Definition,
    ) -> refinery_core::Result<(LmJudge, String)> {
        let (lm, model, fallback) = self.load_judge()?;
        fallback.inspect(|n| tool.note(n));
        let mode = self.prompt_mode(&lm);
        let judge = LmJudge::new(lm, mode, question, trait_name, definition)?;
        Ok((judge, model))
    }

    /// The likelihood judge on the judges' model, its anchors read from
    /// `definition` (loaded from `path`, named in errors). Returns the judge
    /// and its model's name (rows record `likelihood:MODEL`).
    pub fn likelihood_judge(
        &self,
        tool: &Tool,
        definition: &Definition,
        path: &std::path::Path,
    ) -> refinery_core::Result<(LikelihoodJudge, String)> {
        let (lm, model, fallback) = self.load_judge()?;
        fallback.inspect(|n| tool.note(n));
        let judge = LikelihoodJudge::new(lm, definition, path)?;
        Ok((judge, model))
    }

    /// Chat with `--chat`, raw with `--raw`, else chat when the model has a
    /// chat template.
    pub fn prompt_mode(&self, lm: &CausalLm) -> PromptMode {
        if self.raw || (!self.chat && lm.config.chat_template.is_none()) {
            PromptMode::Raw
        } else {
            PromptMode::Chat
        }
    }

    /// The name rows record in `model`: the model directory's name.
    pub fn model_name(&self, lm: &CausalLm) -> String {
        match &self.model {
            Some(dir) => dir
                .canonicalize()
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| lm.name().to_string()),
            None => crate::config::DEFAULT_MODEL.to_string(),
        }
    }
}

impl From<LmError> for Error {
    fn from(e: LmError) -> Self {
        match e {
            LmError::Model { ref path, .. } | LmError::Layout { ref path, .. } => {
                let message = e.to_string();
                let prefix = format!("model {}: ", path.display());
                Error::config(path, message.strip_prefix(&prefix).unwrap_or(&message))
            }
            LmError::Invalid(m) => Error::usage(m),
            other => Error::config("ONNX Runtime", other.to_string()),
        }
    }
}
