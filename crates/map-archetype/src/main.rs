refinery_core::tool_main!("map-archetype", refinery_map_archetype::run);
