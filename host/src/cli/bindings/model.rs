//! What the generators are given: one server's tools, each with its
//! parameters and result reduced to [`schema::Ty`], and the names of the
//! object types a module declares.

use std::collections::HashMap;

use super::names::{Case, Scope};
use super::schema::{self, Object, Params, Ty};

/// The tools of one server, sorted by name.
pub struct Server {
    /// The server's name in the config.
    pub name: String,
    pub tools: Vec<Tool>,
}

/// One tool, as the generators see it.
pub struct Tool {
    /// The tool's own name on its server.
    pub name: String,
    pub description: Option<String>,
    pub params: Params,
    /// The structured result's type, when the tool has an `outputSchema`
    /// that is an object with fields.
    pub result: Option<Object>,
}

impl Tool {
    /// The object of named arguments, if the tool takes one.
    pub fn fields(&self) -> Option<&Object> {
        match &self.params {
            Params::Fields(o) => Some(o),
            _ => None,
        }
    }

    pub fn new(tool: &rmcp::model::Tool) -> Tool {
        Tool {
            name: tool.name.to_string(),
            description: tool.description.as_deref().map(str::to_string),
            params: schema::params(&tool.input_schema),
            result: tool.output_schema.as_deref().and_then(schema::result),
        }
    }
}

/// One tool as a module declares it: its function's name and its types.
pub struct Planned<'a> {
    pub tool: &'a Tool,
    pub func: String,
    pub types: Types<'a>,
}

/// Names every tool's function (in `case`) and object types in the
/// module's `scope`, in the order of the tools.
pub fn plan<'a>(server: &'a Server, mut scope: Scope, case: Case) -> Vec<Planned<'a>> {
    let originals: Vec<&str> = server.tools.iter().map(|t| t.name.as_str()).collect();
    let fns = scope.assign(&originals, case, "tool");
    server
        .tools
        .iter()
        .zip(fns)
        .map(|(tool, func)| {
            let pascal = super::names::cased(func.trim_start_matches("r#"), Case::Pascal);
            let types = Types::new(&mut scope, &pascal, tool.fields(), tool.result.as_ref());
            Planned { tool, func, types }
        })
        .collect()
}

/// The object types one tool declares, named and in an order where each
/// comes after the types of its fields.
pub struct Types<'a> {
    /// Object path → type name, per root (0: arguments, 1: result).
    names: [HashMap<&'a [String], String>; 2],
    /// (name, object, root) in declaration order.
    pub declared: Vec<(String, &'a Object, usize)>,
}

impl<'a> Types<'a> {
    /// Names the arguments' and the result's object types of a tool whose
    /// identifier is `tool` (in Pascal case), in `scope`.
    pub fn new(
        scope: &mut Scope,
        tool: &str,
        params: Option<&'a Object>,
        result: Option<&'a Object>,
    ) -> Types<'a> {
        let mut t = Types {
            names: [HashMap::new(), HashMap::new()],
            declared: Vec::new(),
        };
        for (root, (obj, suffix)) in [(params, "Args"), (result, "Result")]
            .into_iter()
            .enumerate()
        {
            if let Some(obj) = obj {
                t.walk(scope, &format!("{tool}{suffix}"), obj, root);
            }
        }
        t
    }

    fn walk(&mut self, scope: &mut Scope, prefix: &str, obj: &'a Object, root: usize) {
        for f in &obj.fields {
            self.walk_ty(scope, prefix, &f.ty, root);
        }
        let name = if obj.path.is_empty() {
            scope.one(prefix, Case::Pascal, "Type")
        } else {
            let path: Vec<String> = obj
                .path
                .iter()
                .map(|p| super::names::cased(p, Case::Pascal))
                .collect();
            scope.one(
                &format!("{prefix}_{}", path.join("_")),
                Case::Pascal,
                "Type",
            )
        };
        self.names[root].insert(&obj.path, name.clone());
        self.declared.push((name, obj, root));
    }

    fn walk_ty(&mut self, scope: &mut Scope, prefix: &str, ty: &'a Ty, root: usize) {
        match ty {
            Ty::Object(o) => self.walk(scope, prefix, o, root),
            Ty::List(t) | Ty::Map(t) | Ty::Nullable(t) => self.walk_ty(scope, prefix, t, root),
            _ => {}
        }
    }

    /// The name of an object type declared under `root`.
    pub fn name(&self, obj: &Object, root: usize) -> &str {
        self.names[root]
            .get(obj.path.as_slice())
            .map(String::as_str)
            .unwrap_or("Any")
    }
}

/// The allowed values of an enum field, for a doc where the language's
/// type does not list them (Rust types them as `String`).
pub fn enum_note(ty: &Ty) -> Option<String> {
    match ty {
        Ty::Enum(values) => Some(format!(
            "One of: {}.",
            values
                .iter()
                .map(|v| super::names::string_literal(v))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Ty::Nullable(t) => enum_note(t),
        _ => None,
    }
}
