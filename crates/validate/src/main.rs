refinery_core::tool_main!(refinery_validate::Cli);
