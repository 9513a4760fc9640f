pub struct Worker;

service_runtime::main!(Worker);
