//! Without a `new` hook, the service is built with `Default`; its name
//! defaults to the type's name in snake case.
use service_runtime::prelude::*;

#[derive(Default)]
pub struct InventorySync {
    runs: u32,
}

#[service]
impl InventorySync {
    async fn stop(&mut self, _graceful: bool) {
        self.runs += 1;
    }
}

fn main() {
    assert_eq!(<InventorySync as Service>::NAME, "inventory_sync");
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let conf = service_runtime::testkit::conf(&[]);
    let service = runtime.block_on(<InventorySync as Service>::new(&conf)).unwrap();
    assert_eq!(service.runs, 0);
}
