# The demo: the whole affect pipeline on the bundled samples. Harvest
# candidates from a chat log, its affect-head output and GoEmotions; import a
# rater's labels; build run003, split it and check its coverage. Then the
# refinement loop on the worked example trait (pipelines/traits/sycophancy),
# and synthetic probes for the archetypes the baseline lacks, ready for `label`.
demo: harvest run003 refine probes ## run the main job on the bundled sample data
	@echo
	@echo "demo: harvested candidates:   $(HARVEST_DIR)/candidates_manual.jsonl, candidates_goemotions.jsonl"
	@echo "demo: run003 dataset:         $(DATASET)"
	@echo "demo: splits:                 $(RUN003_DIR)/splits/{train,dev,test}.jsonl ($(RUN003_DIR)/split_report.json)"
	@echo "demo: coverage report:        $(RUN003_DIR)/report.md (maps: $(RUN003_DIR)/coverage*.svg)"
	@echo "demo: refinement loop:        $(REFINE_DIR)/report.md (scenario_scores.json, response_scores.json, first_tokens.jsonl)"
	@echo "demo: for trait-interp:       $(EXPORT) (the pairs that passed every stage)"
	@echo "demo: probe candidates:       $(PROBES_OUT)/candidates.jsonl (label them: label $(PROBES_OUT)/candidates.jsonl -o labelled.jsonl)"
	@echo
	@stats --quiet --format table --require-targets $(TARGET_SHARE) $(DATASET) | sed -n '/^archetypes/,/^$$/p;/^gates/,$$p'
	@echo
	@sed -n '1,/^## Scenarios to rewrite/{/^## Scenarios to rewrite/!p}' $(REFINE_DIR)/report.md
