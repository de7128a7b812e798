refinery_core::tool_main!(refinery_probes::collect::Cli);
