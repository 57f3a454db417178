//! `builtin:openapi`'s config for one call: the readied document cut to
//! the called operation (`openapi::cut`), written once per tool and kept.
//!
//! The adapter marks each listed tool's input schema with the operation
//! it is (`x-weft-operation: "GET /path"`); weft takes the mark out
//! before agents see the schema and keeps the map. A call's instance then
//! gets `{"spec": CUT, "base_url": …, "tool": NAME}` instead of the whole
//! description.

use std::collections::HashMap;
use std::sync::Arc;

use rmcp::model::Tool;
use serde_json::Value;

/// The key the adapter marks a tool's input schema with.
const OPERATION_KEY: &str = "x-weft-operation";

/// The per-call configs of one `builtin:openapi` server.
pub(super) struct CallConfigs {
    /// Tool → (method, path).
    operations: HashMap<String, (String, String)>,
    /// The readied config (`spec` and `base_url` among it).
    config: Arc<Value>,
    /// Tool → the config text of its calls, made on its first call.
    made: parking_lot::Mutex<HashMap<String, Arc<str>>>,
}

impl CallConfigs {
    /// Takes the marks out of `tools` and keeps what they said, with the
    /// readied `config` the cuts are made from.
    pub(super) fn from_listing(tools: &mut [Tool], config: Arc<Value>) -> CallConfigs {
        let mut operations = HashMap::new();
        for tool in tools.iter_mut() {
            let schema = Arc::make_mut(&mut tool.input_schema);
            if let Some(Value::String(op)) = schema.remove(OPERATION_KEY)
                && let Some((method, path)) = op.split_once(' ')
            {
                operations.insert(
                    tool.name.to_string(),
                    (method.to_string(), path.to_string()),
                );
            }
        }
        CallConfigs {
            operations,
            config,
            made: parking_lot::Mutex::default(),
        }
    }

    /// The config text of a call of `tool`, or `None` to use the whole
    /// one (a tool the listing did not mark).
    pub(super) fn for_tool(&self, tool: &str) -> Option<Arc<str>> {
        if let Some(made) = self.made.lock().get(tool) {
            return Some(made.clone());
        }
        let (method, path) = self.operations.get(tool)?;
        let doc = self.config.get("spec")?;
        let cut = crate::openapi::cut(doc, method, path)?;
        let mut table = self.config.as_object()?.clone();
        table.insert("spec".into(), cut);
        table.insert("tool".into(), Value::String(tool.to_string()));
        let text: Arc<str> = Arc::from(Value::Object(table).to_string());
        self.made.lock().insert(tool.to_string(), text.clone());
        Some(text)
    }
}
