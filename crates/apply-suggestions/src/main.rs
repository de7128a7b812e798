refinery_core::tool_main!(refinery_apply_suggestions::Cli);
