# The refinement loop (seed 004), stage 1: completions of the trait's scenario
# prefixes by a causal LM (greedy, raw prefixes, 50 new tokens, as the seed
# runs it). Every input is a variable; the defaults are the bundled samples
# and the default model from `make models`.
TRAIT ?= sycophancy
TRAIT_DIR ?= pipelines/sample/traits/$(TRAIT)
REFINE_DIR ?= $(OUT)/fine_tune/traits/$(TRAIT)
GEN_MODEL ?=
MAX_NEW_TOKENS ?= 50
GEN_FLAGS ?= --raw --max-new-tokens $(MAX_NEW_TOKENS) $(if $(GEN_MODEL),--model $(GEN_MODEL))

.PHONY: responses
responses: $(REFINE_DIR)/responses.jsonl ## stage 1 of the refinement loop: generate completions of the trait's scenarios

$(REFINE_DIR)/responses.jsonl: $(TRAIT_DIR)/positive.txt $(TRAIT_DIR)/negative.txt | tools models
	@mkdir -p $(@D)
	generate $(GEN_FLAGS) --positive $(TRAIT_DIR)/positive.txt --negative $(TRAIT_DIR)/negative.txt > $@.tmp
	@mv $@.tmp $@
