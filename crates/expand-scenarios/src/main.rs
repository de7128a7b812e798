refinery_core::tool_main!("expand-scenarios", refinery_expand_scenarios::run);
