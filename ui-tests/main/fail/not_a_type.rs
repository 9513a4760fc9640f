service_runtime::main!(42);
