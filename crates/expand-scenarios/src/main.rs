refinery_core::tool_main!(refinery_expand_scenarios::Cli);
