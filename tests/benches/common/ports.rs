//! Where a server a bench started listens. Every server binds port 0 (no
//! port is picked in advance and released, which would race); the bench
//! reads the port it got from `/proc` once the server listens.

use std::time::Duration;

use crate::support::{listening_ports, wait_until};

/// The port process `pid` listens on, once it listens (within `within`).
pub fn bound_port(pid: u32, within: Duration) -> u16 {
    let mut port = None;
    wait_until(within, &format!("process {pid} to listen"), || {
        port = listening_ports(pid).first().copied();
        port.is_some()
    });
    port.unwrap_or_else(|| unreachable!("wait_until returned without a port"))
}
