refinery_core::tool_main!("probe-candidates", refinery_probes::collect::run);
