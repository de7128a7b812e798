refinery_core::tool_main!(refinery_label::Cli);
