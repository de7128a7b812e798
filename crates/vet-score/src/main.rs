refinery_core::tool_main!("vet-score", refinery_vet_score::run);
