//! The hub's pins for the HTTP edge and the console: the definitions that
//! wait for approval, and an admin's approval over HTTP, which the
//! catalog serves at once (`weft pins approve`, another process, reaches
//! a running weft through the store's poll instead).

use crate::pins::{Filter, PinError, PinKey, PinRow};

use super::{Hub, changes};

impl Hub {
    /// Every pin whose tool is listed otherwise now (changed, or new and
    /// held), in key order.
    pub(crate) fn held_pins(&self) -> Vec<(PinKey, PinRow)> {
        self.shared
            .pins
            .rows()
            .into_iter()
            .filter(|(_, row)| row.seen.is_some())
            .collect()
    }

    /// Approves what `filter` matches that is held, as `by`, and rebuilds
    /// the catalogs so the approved tools are served. Returns how many.
    pub(crate) async fn approve_pins(&self, filter: Filter, by: String) -> Result<usize, PinError> {
        let pins = self.shared.pins.clone();
        let n = tokio::task::spawn_blocking(move || pins.approve(&filter, &by))
            .await
            .map_err(|e| PinError::Store(format!("the approval stopped: {e}")))??;
        if n > 0 {
            changes::rebuild(&self.shared);
        }
        Ok(n)
    }
}
