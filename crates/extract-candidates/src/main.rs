refinery_core::tool_main!(refinery_extract_candidates::Cli);
