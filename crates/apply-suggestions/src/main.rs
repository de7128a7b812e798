refinery_core::tool_main!("apply-suggestions", refinery_apply_suggestions::run);
