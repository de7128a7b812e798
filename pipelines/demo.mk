# The demo: harvest candidates from the bundled samples, then check the bundled
# sample dataset with validate and stats.
SAMPLE ?= pipelines/sample/run002_plus_goe.sample.jsonl

demo: build harvest ## run the main job on the bundled sample data
	@mkdir -p $(OUT)/demo
	validate $(SAMPLE) > $(OUT)/demo/validated.jsonl
	stats --format markdown $(OUT)/demo/validated.jsonl > $(OUT)/demo/report.md
	stats --quiet --require 'count() >= 200' --require 'share(intimacy <= -0.1) >= 0.05' $(OUT)/demo/validated.jsonl
	@echo "demo: candidates in $(HARVEST_DIR)/; checked sample in $(OUT)/demo/validated.jsonl, report in $(OUT)/demo/report.md"
