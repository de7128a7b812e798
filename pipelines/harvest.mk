# Harvest (steps 1-2 of the affect plan): candidates from the chat log
# joined with the affect head's predictions, and GoEmotions rows mapped to
# archetypes. Every input is a variable; the defaults are the bundled samples.
HARVEST_DIR ?= $(OUT)/fine_tune/harvest
CHAT_LOG ?= pipelines/sample/interactions.log
AFFECT_HEAD ?= pipelines/sample/affect_head_raw.jsonl
GOEMOTIONS ?= pipelines/sample/goemotions_sample.tsv
MAPPING ?= pipelines/archetypes.json
# ts [session] #id role: text
LOG_PATTERN ?= ^(?P<ts>\S+) \[(?P<session>[^\]]+)\] \#(?P<id>\S+) (?P<role>\w+): (?P<text>.*)$$
# Per-archetype cap on GoEmotions candidates (balanced, seeded).
GOE_PER_ARCHETYPE ?= 100
SEED ?= 3

.PHONY: harvest tools
harvest: $(HARVEST_DIR)/candidates_manual.jsonl $(HARVEST_DIR)/candidates_goemotions.jsonl ## candidates from the chat log and GoEmotions

# The tools the pipelines run: built from this checkout when cargo is there
# (TOOLS=auto), or the ones already on PATH, e.g. installed with
# `cargo install` (TOOLS=path, or auto without cargo).
TOOLS ?= auto
tools:
	@if [ "$(TOOLS)" != path ] && command -v $(CARGO) > /dev/null; then \
	  $(CARGO) build --release --workspace --locked --quiet; \
	elif command -v extract-candidates > /dev/null; then \
	  echo "using the refinery tools on PATH ($$(dirname "$$(command -v extract-candidates)"))"; \
	else \
	  echo "no refinery tools: install Rust (cargo) to build them, or put installed ones on PATH" >&2; exit 1; \
	fi

# The user's turns, with the head's predictions and the archetype they point at.
$(HARVEST_DIR)/candidates_manual.jsonl: $(CHAT_LOG) $(AFFECT_HEAD) $(MAPPING) | tools
	@mkdir -p $(@D)
	extract-candidates --format log --line-pattern '$(LOG_PATTERN)' --continuation \
	    --join $(AFFECT_HEAD) --role user $(CHAT_LOG) \
	  | map-archetype --targets $(MAPPING) --use-predictions > $@.tmp
	mv $@.tmp $@

# The pull list (anger, annoyance, disgust; fear and nervousness for the
# 'cautious'/'apprehension' it names, which GoEmotions lacks), mapped and balanced.
$(HARVEST_DIR)/candidates_goemotions.jsonl: $(GOEMOTIONS) $(MAPPING) | tools
	@mkdir -p $(@D)
	extract-candidates $(GOEMOTIONS) \
	  | map-archetype --targets $(MAPPING) --only-matched --per-archetype $(GOE_PER_ARCHETYPE) \
	      --seed $(SEED) --overflow $(@D)/goemotions_overflow.jsonl > $@.tmp
	mv $@.tmp $@
