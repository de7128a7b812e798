refinery_core::tool_main!("validate", refinery_validate::run);
