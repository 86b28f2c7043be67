//! Host bindings generated from `wit/plugin.wit` (world `gateway-plugin`), synchronous.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "gateway-plugin",
});

pub use exports::portunus::plugin::plugin::Guest;
pub use portunus::plugin::types as wit;
