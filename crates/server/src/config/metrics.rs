//! `[metrics]`: the Prometheus endpoint (served by `crate::metrics`).

use serde::Deserialize;

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// Address of the HTTP listener serving `GET /metrics` (unset: none).
    pub listen: Option<String>,
}
