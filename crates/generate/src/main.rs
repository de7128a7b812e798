refinery_core::tool_main!(refinery_generate::Cli);
