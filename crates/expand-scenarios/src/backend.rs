//! Where the new scenarios are written: a local model on ONNX Runtime, or an
//! OpenAI-compatible server's completions endpoint (`--backend openai`). Both
//! continue raw few-shot text to the end of its line, seeded per attempt.

use refinery_api::{map_all, ApiArgs, ApiGenerator, Failure};
use refinery_core::{Error, Result, Tool};
use refinery_lm::{CausalLm, Finish, GenerateParams, PromptMode, Sampling};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// One continuation: its text and whether its line ended (not cut off by
/// the token limit), or why there is none.
pub type Completion = std::result::Result<(String, bool), &'static str>;

/// The model that writes the scenarios.
pub enum Writer {
    Local {
        lm: Box<CausalLm>,
        params: GenerateParams,
    },
    Api {
        generator: Box<ApiGenerator>,
        concurrency: usize,
        seed: u64,
    },
}

impl Writer {
    /// The local model (`model`, else the judges' model when fetched, else
    /// SmolLM2) or the server `api` names, sampling as `sampling` says; and
    /// the model's name for the rows' provenance.
    pub fn open(
        api: &ApiArgs,
        model: Option<std::path::PathBuf>,
        batch_size: u16,
        sampling: Sampling,
        max_new_tokens: usize,
        tool: &Tool,
    ) -> Result<(Writer, String)> {
        api.check_backend()?;
        sampling.check()?;
        let stop = vec!["\n".to_string()];
        if api.is_openai() {
            if model.is_some() || api.resume.is_some() {
                return Err(Error::usage(
                    "--model is for --backend onnx, and expand-scenarios keeps no --resume journal",
                ));
            }
            let name = api.model_name()?.to_string();
            let generator = ApiGenerator {
                client: api.client()?,
                model: name.clone(),
                raw: true,
                max_new_tokens,
                temperature: sampling.temperature,
                top_p: sampling.top_p,
                top_k: sampling.top_k,
                stop,
                logprobs: false,
            };
            let writer = Writer::Api {
                generator: Box::new(generator),
                concurrency: api.concurrency as usize,
                seed: sampling.seed,
            };
            return Ok((writer, name));
        }
        let args = refinery_lm::ModelArgs {
            model,
            chat: false,
            raw: true,
            batch_size,
            threads: 0,
        };
        let (lm, name, fallback) = args.load_judge()?;
        if let Some(note) = fallback {
            tool.note(&note.replace("judging with", "writing with"));
        }
        let params = GenerateParams {
            max_new_tokens,
            sampling,
            stop,
            use_cache: true,
        };
        Ok((
            Writer::Local {
                lm: Box::new(lm),
                params,
            },
            name,
        ))
    }

    /// Each prompt's continuation to the end of its line; `stream` picks the
    /// prompt's random stream (a seed of its own per request over the API).
    pub fn complete(&mut self, prompts: Vec<(u64, String)>) -> Result<Vec<Completion>> {
        if prompts.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Writer::Local { lm, params } => {
                let requests = prompts
                    .iter()
                    .map(|(stream, prompt)| {
                        lm.request(
                            PromptMode::Raw,
                            None,
                            prompt,
                            params.max_new_tokens,
                            *stream,
                        )
                    })
                    .collect::<refinery_lm::Result<Vec<_>>>()?;
                Ok(lm
                    .generate(&requests, params)?
                    .into_iter()
                    .map(|g| Ok((g.text, g.finish != Finish::Length)))
                    .collect())
            }
            Writer::Api {
                generator,
                concurrency,
                seed,
            } => {
                let answers = map_all(prompts, *concurrency, |(stream, prompt)| {
                    // 31 bits: some servers take the seed as a C int.
                    let seed = xxh3_64_with_seed(&stream.to_le_bytes(), *seed) & 0x7fff_ffff;
                    generator.generate(None, &prompt, seed)
                });
                answers
                    .into_iter()
                    .map(|a| match a {
                        Ok(g) => Ok(Ok((g.text, g.finish_reason != "length"))),
                        Err(Failure::Row(_)) => Ok(Err("a failed request")),
                        Err(fatal) => Err(fatal.into()),
                    })
                    .collect()
            }
        }
    }
}
