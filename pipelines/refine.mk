# The refinement loop (seed 004) as a pipeline, over a trait directory in
# trait-interp's layout (positive.txt, negative.txt, definition.txt):
#   vet scenarios -> generate (50 new tokens) -> vet responses -> first-tokens
#   -> report.md listing the scenarios to rewrite.
# The pairs that passed every stage go to EXPORT in trait-interp's experiment
# layout (responses/pos.json, neg.json, vetting/*.json, positive.txt,
# negative.txt), ready for its activation extraction.
# `make refine TRAIT=category/name` (default: the worked example,
# pipelines/traits/sycophancy). Make reruns only what an edit made stale: each
# step reads the previous step's rows and keeps their fields, so the report
# sees every verdict.
TRAIT ?= sycophancy
TRAIT_DIR ?= pipelines/traits/$(TRAIT)
REFINE_DIR ?= $(OUT)/fine_tune/traits/$(TRAIT)
GEN_MODEL ?=
JUDGE_MODEL ?=
MAX_NEW_TOKENS ?= 50
GEN_FLAGS ?= --raw --max-new-tokens $(MAX_NEW_TOKENS) $(if $(GEN_MODEL),--model $(GEN_MODEL))
# A hosted model for generate and vet-score (first-tokens stays on ONNX), e.g.
# GEN_BACKEND="--backend openai --base-url http://127.0.0.1:8080/v1 --api-model local"
# JUDGE_BACKEND="--backend openai --api-model gpt-4.1-mini" (key in OPENAI_API_KEY).
# With a backend, each step writes through --resume, so an interrupted paid
# run picks up where it stopped when make is run again.
GEN_BACKEND ?=
JUDGE_BACKEND ?=
# Where a step's rows go: stdout into FILE, or --resume FILE with a backend.
into = $(if $(1),--resume $(2),> $(2))
# Which local judge scores each stage (vet-score --help): the likelihood judge
# separated real trait files' scenarios best, with the 1.5B judge model and
# with SmolLM2 alike, and runs 3-4x faster than the LM judge (README, "How good
# are the judges?").
SCENARIO_JUDGE ?= likelihood
RESPONSE_JUDGE ?= likelihood
FIRST_TOKENS_JUDGE ?= likelihood
judge_kind = $(if $(JUDGE_BACKEND),,--judge $(1))
EXPORT ?= $(REFINE_DIR)/trait-interp
# Responses that ramble, loop or come out empty fail (vet-score --coherence);
# COHERENCE= skips the check.
COHERENCE ?= --coherence
# Checked fix suggestions for the positives that failed (first-tokens
# --suggest): SUGGEST= (empty) skips them. `make fix` applies the accepted ones
# to TRAIT_DIR's scenario files; the next `make refine` is the next round.
# With a hosted generator (GEN_BACKEND) the cuts would be completed by SmolLM2,
# not the model under study: off unless asked for (and GEN_MODEL given).
SUGGEST ?= $(if $(GEN_BACKEND),,1)
GEN_SUGGEST_FLAGS ?= $(if $(GEN_MODEL),--generator $(GEN_MODEL))
# A positive whose scenario passed and response did not gets REWRITES
# rewrites by the judges' model, checked like a cut (0: flagged only).
REWRITES ?= 2
JUDGE_FLAGS ?= --quiet --definition $(TRAIT_DIR)/definition.txt --trait $(notdir $(TRAIT)) $(if $(JUDGE_MODEL),--model $(JUDGE_MODEL))

# Scale-up after a round: SCALE=N writes N new pairs in the style of the pairs
# that passed (expand-scenarios, seeded by SCALE_SEED) to
# $(REFINE_DIR)/expanded/, a trait directory the loop runs on next:
#   make refine TRAIT_DIR=$(REFINE_DIR)/expanded REFINE_DIR=$(REFINE_DIR)/expanded/out
# SCALE_BACKEND="--backend openai --base-url URL --api-model NAME" writes them
# on a server instead of the judges' model.
SCALE ?=
SCALE_SEED ?= 1
SCALE_BACKEND ?=

.PHONY: refine responses fix
refine: $(REFINE_DIR)/report.md $(EXPORT)/positive.txt $(if $(SCALE),$(REFINE_DIR)/expanded/positive.txt) ## the refinement loop on TRAIT's scenarios, ending in a report and an export for trait-interp

responses: $(REFINE_DIR)/responses.jsonl ## stage 1 only: completions of TRAIT's scenarios

$(REFINE_DIR)/scenario_vet.jsonl: $(TRAIT_DIR)/positive.txt $(TRAIT_DIR)/negative.txt $(TRAIT_DIR)/definition.txt | tools models
	@mkdir -p $(@D)
	vet-score --stage scenario $(call judge_kind,$(SCENARIO_JUDGE)) $(JUDGE_FLAGS) $(JUDGE_BACKEND) --summary $(REFINE_DIR)/scenario_scores.json --positive $(TRAIT_DIR)/positive.txt --negative $(TRAIT_DIR)/negative.txt $(call into,$(JUDGE_BACKEND),$@.partial)
	@mv $@.partial $@

$(REFINE_DIR)/responses.jsonl: $(REFINE_DIR)/scenario_vet.jsonl
	generate --quiet $(GEN_FLAGS) $(GEN_BACKEND) $< $(call into,$(GEN_BACKEND),$@.partial)
	@mv $@.partial $@

$(REFINE_DIR)/response_vet.jsonl: $(REFINE_DIR)/responses.jsonl
	vet-score --stage response --paired $(COHERENCE) $(call judge_kind,$(RESPONSE_JUDGE)) $(JUDGE_FLAGS) $(JUDGE_BACKEND) --summary $(REFINE_DIR)/response_scores.json $< $(call into,$(JUDGE_BACKEND),$@.partial)
	@mv $@.partial $@

$(REFINE_DIR)/report.md: $(REFINE_DIR)/response_vet.jsonl
	first-tokens --review --judge $(FIRST_TOKENS_JUDGE) $(JUDGE_FLAGS) --history $(REFINE_DIR)/history.jsonl $(if $(SUGGEST),--suggest $(REFINE_DIR)/suggestions.jsonl --rewrites $(REWRITES) $(GEN_SUGGEST_FLAGS)) --report $@.tmp $< > $(REFINE_DIR)/first_tokens.jsonl
	@mv $@.tmp $@

$(EXPORT)/positive.txt: $(REFINE_DIR)/report.md
	export-trait --quiet --definition $(TRAIT_DIR)/definition.txt --trait $(TRAIT) --out $(EXPORT) $(REFINE_DIR)/first_tokens.jsonl > $(REFINE_DIR)/passed.jsonl

fix: | tools ## apply the fix suggestions you accepted (suggestions.jsonl) to TRAIT_DIR's positive.txt/negative.txt
	apply-suggestions --positive $(TRAIT_DIR)/positive.txt --negative $(TRAIT_DIR)/negative.txt --out $(TRAIT_DIR) $(REFINE_DIR)/suggestions.jsonl > /dev/null

# Rebuilt on every `make refine SCALE=N`: N and the seed are not in the name.
$(REFINE_DIR)/expanded/positive.txt: $(EXPORT)/positive.txt FORCE
	@[ -s $< ] || { echo "refine: no pair passed every stage yet, so there is nothing to scale up from (SCALE=$(SCALE)); fix the scenarios first" >&2; exit 1; }
	@mkdir -p $(@D)
	expand-scenarios --positive $(EXPORT)/positive.txt --negative $(EXPORT)/negative.txt --avoid $(TRAIT_DIR)/positive.txt --avoid $(TRAIT_DIR)/negative.txt -n $(SCALE) --seed $(SCALE_SEED) $(SCALE_BACKEND) --trait $(notdir $(TRAIT)) --out $(@D) > $(REFINE_DIR)/expanded.jsonl
	cp $(TRAIT_DIR)/definition.txt $(@D)/definition.txt

.PHONY: FORCE
FORCE:
