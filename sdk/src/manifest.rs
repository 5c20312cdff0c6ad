//! The plugin manifest: one serde type, written by the plugin glue (`export.rs`) and read
//! by the host (the server's route table, the background worker's task list). It travels
//! as JSON from [`PluginV2::load`](crate::abi::PluginV2::load); see docs/protocol.md,
//! "Start-up". Keys a host does not know are ignored, so adding one needs no ABI bump.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything one plugin declares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `apiphant-sdk` version the plugin was built with.
    pub sdk_version: String,
    /// The plugin crate's name (`CARGO_PKG_NAME`): its configuration is the product's
    /// `[plugins.<crate>]` table.
    #[serde(rename = "crate", default)]
    pub crate_name: String,
    /// Targets and their actions.
    #[serde(default)]
    pub targets: Vec<TargetEntry>,
    /// Background tasks (run by `apiphant-background`).
    #[serde(default)]
    pub tasks: Vec<TaskEntry>,
    /// Call index of the `on_error` hook, if the plugin has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<u32>,
    /// The `authorize` hook, if the plugin has one (ABI 2 growth: absent in older plugins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize: Option<AuthorizeEntry>,
}

/// A plugin's `authorize` hook (`export! { authorize = check }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeEntry {
    /// Call index (`CallIn.action`): after the actions, the tasks and `on_error`.
    pub index: u32,
    /// Runs on the server's blocking pool (`authorizer(f).blocking()`).
    #[serde(default)]
    pub blocking: bool,
}

/// One target: a route such as `v0/echo` and its actions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetEntry {
    /// `v<digits>/<target path>`.
    pub route: String,
    /// The actions.
    pub actions: Vec<ActionEntry>,
}

/// One action of a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionEntry {
    /// `create`, `read`, `update` or `delete`.
    pub name: String,
    /// Call index (`CallIn.action`).
    pub index: u32,
    /// Takes the raw request (method, path, headers, body bytes).
    #[serde(default)]
    pub raw_request: bool,
    /// Answers a raw response.
    #[serde(default)]
    pub raw_response: bool,
    /// Blocks its thread: the server runs it on its blocking pool.
    #[serde(default)]
    pub blocking: bool,
    /// May run asynchronously (answered 202 with a job id, issue 14): hosts of this
    /// version only read and carry the flag.
    #[serde(default)]
    pub asynchronous: bool,
    /// Its own deadline in seconds (`.timeout(secs)`), else the server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<f64>,
    /// The raw request's content type, as declared (`.consumes("multipart/form-data")`);
    /// the API description lists it (else `*/*` for a raw request, JSON otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumes: Option<String>,
    /// The raw response's content type, as declared (`.produces("text/csv")`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produces: Option<String>,
    /// Doc text.
    #[serde(default)]
    pub doc: String,
    /// JSON Schema of the request object.
    #[serde(default)]
    pub request_schema: Option<Value>,
    /// JSON Schema of the response object.
    #[serde(default)]
    pub response_schema: Option<Value>,
}

/// One background task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEntry {
    /// The task's name (its function's name).
    pub name: String,
    /// Call index (`CallIn.action`).
    pub index: u32,
    /// `every <N>s` or a cron expression (checked by the worker).
    pub schedule: String,
    /// Whether it runs once when the worker starts.
    #[serde(default = "yes")]
    pub run_at_start: bool,
}

fn yes() -> bool {
    true
}

impl Manifest {
    /// The manifest as the JSON the host reads.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: string keys, no non-finite floats.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a manifest.
    pub fn from_json(text: &str) -> Result<Manifest, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let manifest = Manifest {
            sdk_version: "0.4.0".into(),
            crate_name: "echo".into(),
            targets: vec![TargetEntry {
                route: "v0/echo".into(),
                actions: vec![ActionEntry {
                    name: "read".into(),
                    index: 0,
                    raw_request: true,
                    raw_response: false,
                    blocking: true,
                    asynchronous: true,
                    timeout_secs: Some(2.5),
                    consumes: Some("multipart/form-data".into()),
                    produces: None,
                    doc: "Echoes.".into(),
                    request_schema: Some(json!({"type": "object"})),
                    response_schema: None,
                }],
            }],
            tasks: vec![TaskEntry {
                name: "tick".into(),
                index: 1,
                schedule: "every 60s".into(),
                run_at_start: false,
            }],
            on_error: Some(2),
            authorize: Some(AuthorizeEntry {
                index: 3,
                blocking: true,
            }),
        };
        let text = manifest.to_json();
        assert_eq!(Manifest::from_json(&text).ok(), Some(manifest.clone()));
        let value: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(value["crate"], "echo");
        assert_eq!(value["targets"][0]["actions"][0]["asynchronous"], true);
        assert_eq!(value["authorize"]["index"], 3);
        let mut without_hook = manifest;
        without_hook.on_error = None;
        without_hook.authorize = None;
        assert!(!without_hook.to_json().contains("on_error"));
        assert!(!without_hook.to_json().contains("authorize"));
    }

    #[test]
    fn defaults_for_what_a_minimal_manifest_leaves_out() {
        let text = r#"{"sdk_version":"0.0.0","targets":[{"route":"v0/x","actions":[{"name":"read","index":0}]}],"tasks":[{"name":"t","index":1,"schedule":"every 1s"}]}"#;
        let manifest = Manifest::from_json(text).ok();
        let manifest = manifest.as_ref();
        assert_eq!(manifest.map(|m| m.crate_name.as_str()), Some(""));
        let action = manifest.map(|m| &m.targets[0].actions[0]);
        assert_eq!(
            action.map(|a| (a.blocking, a.asynchronous)),
            Some((false, false))
        );
        assert_eq!(manifest.map(|m| m.tasks[0].run_at_start), Some(true));
        assert!(Manifest::from_json("{}").is_err());
        assert!(Manifest::from_json(r#"{"sdk_version":"1","targets":[{"route":1}]}"#).is_err());
    }
}
