# Synthetic probes (harvest steps 3-4): the probe files under
# pipelines/probes/scenarios/affect_archetypes/ expanded with seeded slot
# values, answered by the default instruct model (seeded sampling, several
# rollouts), and cleaned into candidate rows (source "synthetic_probe", the
# archetype as a tag and a suggestion, the probe file and slots as
# provenance), deduplicated and ready for `label`.
PROBE_DIR ?= pipelines/probes/scenarios/affect_archetypes
PROBES_OUT ?= $(OUT)/fine_tune/probes
PROBE_SEED ?= 1
PROBES_PER_SETUP ?= 2
PROBE_ROLLOUTS ?= 2
PROBE_MODEL ?=
PROBE_GEN_FLAGS ?= --chat --temperature 0.8 --top-p 0.95 --rollouts $(PROBE_ROLLOUTS) --seed $(PROBE_SEED) \
  --max-new-tokens 60 $(if $(PROBE_MODEL),--model $(PROBE_MODEL))

.PHONY: probes
probes: $(PROBES_OUT)/candidates.jsonl ## synthetic probes for the missing archetypes, as candidates for labelling

$(PROBES_OUT)/scenarios.jsonl: $(wildcard $(PROBE_DIR)/*.json) | tools
	@mkdir -p $(@D)
	expand-probes --quiet --seed $(PROBE_SEED) --per-setup $(PROBES_PER_SETUP) $(PROBE_DIR) > $@.tmp
	@mv $@.tmp $@

$(PROBES_OUT)/responses.jsonl: $(PROBES_OUT)/scenarios.jsonl | models
	generate --quiet $(PROBE_GEN_FLAGS) $< > $@.tmp
	@mv $@.tmp $@

$(PROBES_OUT)/candidates.jsonl: $(PROBES_OUT)/responses.jsonl
	probe-candidates $< > $@.tmp
	@mv $@.tmp $@
