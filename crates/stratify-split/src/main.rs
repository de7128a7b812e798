refinery_core::tool_main!(refinery_stratify_split::Cli);
