# run003 (integration steps 1-3 and the coverage goals): new labels
# under fine_tune/harvest/run003/, concatenated with run002_plus_goe, validated,
# split per archetype, and reported on with coverage gates.
RUN002 ?= pipelines/sample/run002_plus_goe.sample.jsonl
LABELS_SRC ?= pipelines/sample/run003_labels
# A second rater's labels of the overlap: agreement is measured on them; the
# dataset keeps the first rater's labels.
OVERLAP_SRC ?= pipelines/sample/run003_overlap
AGREEMENT_GATES ?= --require 'alpha(valence) >= 0.6'
RUN003_DIR ?= $(OUT)/fine_tune/run003
LABELS_DIR ?= $(HARVEST_DIR)/run003
DATASET := $(RUN003_DIR)/affect_dataset_run003.jsonl
SPLITS := $(RUN003_DIR)/splits/train.jsonl $(RUN003_DIR)/splits/dev.jsonl $(RUN003_DIR)/splits/test.jsonl
SPLIT_SEED ?= 3
# The share of each archetype's target the dataset must reach: 1 is the whole
# target; the bundled sample is about 5% of a real dataset.
TARGET_SHARE ?= 0.05
COVERAGE_GATES ?= --require 'count(intimacy <= -0.1) >= 1' --require-targets $(TARGET_SHARE)

.PHONY: run003 labels
run003: $(RUN003_DIR)/report.md ## build affect_dataset_run003.jsonl, its splits and the coverage report
labels: $(LABELS_DIR)/.imported

# 1. Label import: a rater's batches, validated, under fine_tune/harvest/run003/.
$(LABELS_DIR)/.imported: $(wildcard $(LABELS_SRC)/*.jsonl) | tools
	@mkdir -p $(@D)
	for f in $^; do validate $$f > $(@D)/$$(basename $$f).tmp && mv $(@D)/$$(basename $$f).tmp $(@D)/$$(basename $$f); done
	touch $@

# 2. run002_plus_goe + the new labels; a bad row stops the build at its file:line.
$(DATASET): $(RUN002) $(LABELS_DIR)/.imported | tools
	@mkdir -p $(@D)
	validate $(RUN002) $(LABELS_DIR)/*.jsonl > $@.tmp
	mv $@.tmp $@

# 3. Per-archetype stratified split, sessions kept whole.
$(SPLITS) &: $(DATASET) | tools
	stratify-split --seed $(SPLIT_SEED) --group-by session_id \
	    --out-dir $(RUN003_DIR)/splits --report $(RUN003_DIR)/split_report.json $(DATASET)

# 4. Stats on the dataset and each split, with the coverage gates and a
#    coverage map each (coverage*.svg next to the report); agreement between
#    the raters on the overlap, with its gates.
$(RUN003_DIR)/report.md: $(DATASET) $(SPLITS) $(wildcard $(LABELS_SRC)/*.jsonl $(OVERLAP_SRC)/*.jsonl) | tools
	{ echo "# run003 coverage"; echo; echo "## affect_dataset_run003.jsonl"; echo; \
	  stats --quiet --format markdown --plot $(RUN003_DIR)/coverage.svg $(COVERAGE_GATES) $(DATASET); \
	  echo "![Coverage map of affect_dataset_run003.jsonl](coverage.svg)"; echo; \
	  for s in $(SPLITS); do n=$$(basename $$s .jsonl); echo "## $$n.jsonl"; echo; \
	    stats --quiet --format markdown --plot $(RUN003_DIR)/coverage_$$n.svg $$s; \
	    echo "![Coverage map of the $$n split](coverage_$$n.svg)"; echo; done; \
	  echo "## labels: agreement between raters"; echo; \
	  stats --quiet --agreement --format markdown $(AGREEMENT_GATES) $(wildcard $(LABELS_SRC)/*.jsonl $(OVERLAP_SRC)/*.jsonl); \
	} > $@.tmp
	mv $@.tmp $@
	@echo "run003: $(DATASET), splits in $(RUN003_DIR)/splits/, report $@"
