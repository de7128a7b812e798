refinery_core::tool_main!(refinery_stats::Cli);
