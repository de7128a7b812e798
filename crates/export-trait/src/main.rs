refinery_core::tool_main!(refinery_export_trait::Cli);
