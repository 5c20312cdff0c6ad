//! {{product}}'s background tasks: `apiphant-background PRODUCT` runs `heartbeat` every
//! 60 seconds (the server loads this plugin too, and serves no route of it).

use apiphant_sdk::{every, TaskResult};

/// Logs that the product is alive; an `Err` would be logged (and emailed with `[email]`).
pub fn heartbeat() -> TaskResult {
    log::info!("{{product}} is alive");
    Ok(())
}

apiphant_sdk::export! {
    tasks { heartbeat: every(60) },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_succeeds() {
        assert!(heartbeat().is_ok());
    }
}
