//! Turning a scenario into the text the model sees: the prompt as it is for
//! base models, or the model's chat template (Jinja, from `lm.json`) with an
//! optional system message and the generation prompt added.

use minijinja::{context, Environment};

use crate::error::{LmError, Result};

/// How a prompt becomes model input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptMode {
    /// The prompt text as it is: a prefix for a base model to continue.
    Raw,
    /// The chat template: system (optional) + user message + assistant turn.
    Chat,
}

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
}

impl ChatTemplate {
    /// Compiles a chat template. Errors: bad Jinja.
    pub fn new(source: &str) -> Result<Self> {
        let mut env = Environment::new();
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| LmError::Invalid(format!("chat template: {e}")))?;
        Ok(ChatTemplate { env })
    }

    /// The chat as the model expects it, the assistant's turn opened.
    pub fn render(&self, system: Option<&str>, user: &str, bos: &str, eos: &str) -> Result<String> {
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = system {
            messages.push(context! { role => "system", content => system });
        }
        messages.push(context! { role => "user", content => user });
        let template = self
            .env
            .get_template("chat")
            .map_err(|e| LmError::Invalid(e.to_string()))?;
        template
            .render(context! { messages, add_generation_prompt => true, bos_token => bos, eos_token => eos })
            .map_err(|e| LmError::Invalid(format!("chat template: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}\
{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}\
{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}\
{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_smollm2_with_its_default_system_message() {
        let t = ChatTemplate::new(SMOLLM2).unwrap();
        assert_eq!(
            t.render(None, "Hi", "", "").unwrap(),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn a_given_system_message_replaces_the_default() {
        let t = ChatTemplate::new(SMOLLM2).unwrap();
        assert_eq!(
            t.render(Some("Be terse."), "Hi", "", "").unwrap(),
            "<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn a_broken_template_is_an_error_not_a_panic() {
        assert!(ChatTemplate::new("{% for %}").is_err());
    }
}
