//! `[admin]` in `apiphant.toml`: the admin listener of a single process (`/livez`,
//! `/readyz`, `/metrics`). Absent, there is none; `apiphant --admin HOST:PORT` gives each
//! process its own address and wins over the file (several processes read one file).
//!
//! ```toml
//! [admin]
//! listen = "127.0.0.1:9001"   # keep it on loopback: metrics are for the operator
//! ```

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// `[admin]`: where the admin listener listens.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// `HOST:PORT` (an IP address, no name); no admin listener when absent.
    pub listen: Option<SocketAddr>,
}
