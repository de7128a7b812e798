refinery_core::tool_main!("first-tokens", refinery_first_tokens::run);
