# The demo: the bundled sample dataset through validate and stats.
SAMPLE ?= pipelines/sample/run002_plus_goe.sample.jsonl

demo: build ## run the main job on the bundled sample data
	@mkdir -p $(OUT)/demo
	validate $(SAMPLE) > $(OUT)/demo/validated.jsonl
	stats --format markdown $(OUT)/demo/validated.jsonl > $(OUT)/demo/report.md
	stats --quiet --require 'count() >= 200' --require 'share(intimacy <= -0.1) >= 0.05' $(OUT)/demo/validated.jsonl
	@echo "demo: wrote $(OUT)/demo/validated.jsonl and $(OUT)/demo/report.md"
