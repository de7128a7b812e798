refinery_core::tool_main!(refinery_vet_score::Cli);
