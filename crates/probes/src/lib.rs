//! Synthetic probes for the archetypes the baseline lacks (harvest
//! steps 3–4): probe files whose setups lead a model to write the user's side
//! of a dialogue in one archetype's cell, expanded with seeded slot values
//! (`expand-probes`), run through `generate`, and turned back into candidate
//! rows for labelling (`probe-candidates`).
//!
//! Modules: [`probe`] is the probe file and its checks, [`expansion`] the
//! seeded choice of slot values, [`utterance`] the cleaning of a model's
//! reply into the user's words; [`expand`] and [`collect`] are the two tools.

pub mod collect;
pub mod expand;
pub mod expansion;
pub mod probe;
pub mod utterance;
