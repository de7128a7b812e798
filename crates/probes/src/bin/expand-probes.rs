refinery_core::tool_main!("expand-probes", refinery_probes::expand::run);
