//! Any bytes as an agent's POST body: the intake check, then rmcp's own
//! parse of what the intake let through. Neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if weft::serve::intake::check(data).is_ok() {
        let _ = serde_json::from_slice::<rmcp::model::ClientJsonRpcMessage>(data);
    }
});
