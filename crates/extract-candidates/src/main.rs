refinery_core::tool_main!("extract-candidates", refinery_extract_candidates::run);
