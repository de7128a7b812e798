refinery_core::tool_main!("label", refinery_label::run);
