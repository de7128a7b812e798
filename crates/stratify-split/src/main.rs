refinery_core::tool_main!("stratify-split", refinery_stratify_split::run);
