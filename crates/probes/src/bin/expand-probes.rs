refinery_core::tool_main!(refinery_probes::expand::Cli);
