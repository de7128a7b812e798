refinery_core::tool_main!(refinery_first_tokens::Cli);
