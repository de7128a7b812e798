refinery_core::tool_main!(refinery_map_archetype::Cli);
