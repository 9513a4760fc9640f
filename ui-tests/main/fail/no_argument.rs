service_runtime::main!();
