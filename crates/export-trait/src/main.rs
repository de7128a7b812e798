refinery_core::tool_main!("export-trait", refinery_export_trait::run);
