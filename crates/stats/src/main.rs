refinery_core::tool_main!("stats", refinery_stats::run);
