refinery_core::tool_main!("generate", refinery_generate::run);
