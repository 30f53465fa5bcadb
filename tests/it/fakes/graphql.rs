//! Shopify's published Admin GraphQL schema (vendored under
//! `tests/data/shopify/`, see its README) and what the fake Shopify does with
//! it: validate a query (every field exists on its type, every argument on
//! its field, required arguments given, connections sized by `first` or
//! `last` of at most 250), compute its requested cost by Shopify's documented
//! rules, and shape an answer: project full objects onto the query's
//! selection, cutting connections into pages with cursors.
//!
//! Cost rules (shopify.dev, "GraphQL Admin API rate limits"): a scalar or enum
//! costs 0, an object 1, an interface or union the most of its possible
//! selections, a connection 2 + `first` (or `last`) × the cost of one node,
//! a mutation 10; a list of objects sized by `first` costs `first` × one
//! element. The actual cost is the same sum over what was returned.

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

use graphql_parser::query::{
    Definition, Document, Field, OperationDefinition, Selection, SelectionSet, Value as GValue,
};
use serde_json::{json, Map, Value};

/// The API version of the vendored schema.
pub const VERSION: &str = "2026-10";

/// One type of the schema.
pub struct Type {
    /// `OBJECT`, `SCALAR`, `ENUM`, `INTERFACE`, `UNION`, `INPUT_OBJECT`.
    pub kind: String,
    /// Fields by name.
    pub fields: HashMap<String, FieldDef>,
}

/// A field: its arguments and type.
pub struct FieldDef {
    /// Arguments: name → required.
    pub args: HashMap<String, bool>,
    /// The named type (wrappers removed).
    pub named: String,
    /// Whether a list wraps it.
    pub list: bool,
}

/// The schema: types by name.
pub struct Schema {
    /// Types by name.
    pub types: HashMap<String, Type>,
}

fn unwrap(t: &Value) -> (String, bool) {
    let mut t = t;
    let mut list = false;
    while t["kind"] == "NON_NULL" || t["kind"] == "LIST" {
        list |= t["kind"] == "LIST";
        t = &t["ofType"];
    }
    (t["name"].as_str().unwrap_or_default().to_string(), list)
}

/// The vendored Admin schema, read once.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = format!(
            "{}/tests/data/shopify/admin_{VERSION}.json.gz",
            env!("CARGO_MANIFEST_DIR")
        );
        let file = std::fs::File::open(&path).expect("the vendored Shopify schema");
        let mut text = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let mut types = HashMap::new();
        for t in v["data"]["__schema"]["types"].as_array().unwrap() {
            let mut fields = HashMap::new();
            for f in t["fields"].as_array().into_iter().flatten() {
                let args = f["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        (
                            a["name"].as_str().unwrap().to_string(),
                            a["type"]["kind"] == "NON_NULL" && a["defaultValue"].is_null(),
                        )
                    })
                    .collect();
                let (named, list) = unwrap(&f["type"]);
                fields.insert(
                    f["name"].as_str().unwrap().to_string(),
                    FieldDef { args, named, list },
                );
            }
            types.insert(
                t["name"].as_str().unwrap().to_string(),
                Type {
                    kind: t["kind"].as_str().unwrap().to_string(),
                    fields,
                },
            );
        }
        Schema { types }
    })
}

/// A parsed query with its variables.
pub struct Request {
    doc: Document<'static, String>,
    vars: Value,
    /// A bulk operation's query: connections take no size.
    pub bulk: bool,
}

/// An error in Shopify's form.
pub fn error(message: String, code: &str) -> Value {
    json!({"message": message, "extensions": {"code": code}})
}

impl Request {
    /// Parses `query`; a syntax error is an answer.
    pub fn parse(query: &str, vars: Value) -> Result<Request, Value> {
        let doc = graphql_parser::parse_query::<String>(query)
            .map_err(|e| error(format!("Parse error: {e}"), "parseError"))?
            .into_static();
        Ok(Request {
            doc,
            vars,
            bulk: false,
        })
    }

    /// The one operation: whether it is a mutation, and its selection.
    pub fn operation(&self) -> (bool, &SelectionSet<'static, String>) {
        for d in &self.doc.definitions {
            if let Definition::Operation(op) = d {
                return match op {
                    OperationDefinition::Query(q) => (false, &q.selection_set),
                    OperationDefinition::SelectionSet(s) => (false, s),
                    OperationDefinition::Mutation(m) => (true, &m.selection_set),
                    OperationDefinition::Subscription(s) => (false, &s.selection_set),
                };
            }
        }
        panic!("no operation")
    }

    /// An argument's value (variables resolved).
    pub fn arg(&self, f: &Field<'static, String>, name: &str) -> Value {
        f.arguments
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| self.value(v))
            .unwrap_or(Value::Null)
    }

    fn value(&self, v: &GValue<'static, String>) -> Value {
        match v {
            GValue::Variable(n) => self.vars[n.as_str()].clone(),
            GValue::Int(n) => json!(n.as_i64()),
            GValue::Float(f) => json!(f),
            GValue::String(s) => json!(s),
            GValue::Boolean(b) => json!(b),
            GValue::Null => Value::Null,
            GValue::Enum(e) => json!(e),
            GValue::List(l) => Value::Array(l.iter().map(|x| self.value(x)).collect()),
            GValue::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.value(x)))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// Validates the operation against the schema and returns its
    /// requested cost, or the errors Shopify would answer.
    pub fn check(&self) -> Result<f64, Vec<Value>> {
        let (mutation, sel) = self.operation();
        let root = if mutation { "Mutation" } else { "QueryRoot" };
        let mut errors = Vec::new();
        let mut cost = self.cost(sel, root, &mut errors);
        if mutation {
            // A mutation costs 10.
            cost = 10.0 * sel.items.len() as f64;
        }
        if errors.is_empty() {
            Ok(cost)
        } else {
            Err(errors)
        }
    }

    fn fields<'s>(
        &'s self,
        sel: &'s SelectionSet<'static, String>,
        ty: &str,
        out: &mut Vec<&'s Field<'static, String>>,
    ) {
        for s in &sel.items {
            match s {
                Selection::Field(f) => out.push(f),
                Selection::InlineFragment(i) => {
                    let applies = match &i.type_condition {
                        None => true,
                        Some(graphql_parser::query::TypeCondition::On(t)) => t == ty,
                    };
                    if applies {
                        self.fields(&i.selection_set, ty, out);
                    }
                }
                Selection::FragmentSpread(_) => {}
            }
        }
    }

    fn cost(&self, sel: &SelectionSet<'static, String>, ty: &str, errors: &mut Vec<Value>) -> f64 {
        let schema = schema();
        let Some(t) = schema.types.get(ty) else {
            errors.push(error(format!("No such type {ty}"), "undefinedType"));
            return 0.0;
        };
        let mut fields = Vec::new();
        self.fields(sel, ty, &mut fields);
        let mut total = 0.0;
        for f in fields {
            if f.name == "__typename" {
                continue;
            }
            let Some(def) = t.fields.get(&f.name) else {
                errors.push(
                    json!({"message": format!("Field '{}' doesn't exist on type '{ty}'", f.name),
                    "extensions": {"code": "undefinedField", "typeName": ty, "fieldName": f.name}}),
                );
                continue;
            };
            for (name, _) in &f.arguments {
                if !def.args.contains_key(name) {
                    errors.push(json!({"message": format!("Field '{}' doesn't accept argument '{name}'", f.name),
                        "extensions": {"code": "argumentNotAccepted", "name": f.name, "typeName": "Field", "argumentName": name}}));
                }
            }
            let missing: Vec<&String> = def
                .args
                .iter()
                .filter(|(n, req)| **req && self.arg(f, n).is_null())
                .map(|(n, _)| n)
                .collect();
            if !missing.is_empty() {
                errors.push(json!({"message": format!("Field '{}' is missing required arguments: {}", f.name,
                    missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
                    "extensions": {"code": "missingRequiredArguments", "className": "Field", "name": f.name}}));
            }
            let kind = schema
                .types
                .get(&def.named)
                .map(|t| t.kind.as_str())
                .unwrap_or("SCALAR");
            let leaf = matches!(kind, "SCALAR" | "ENUM");
            if leaf {
                if !f.selection_set.items.is_empty() {
                    errors.push(error(
                        format!(
                            "Selections can't be made on scalars (field '{}' returns {} but has selections)",
                            f.name, def.named
                        ),
                        "selectionMismatch",
                    ));
                }
                continue;
            }
            if f.selection_set.items.is_empty() {
                errors.push(error(
                    format!(
                        "Field must have selections (field '{}' returns {} but has no selections.)",
                        f.name, def.named
                    ),
                    "selectionMismatch",
                ));
                continue;
            }
            let size = self
                .arg(f, "first")
                .as_i64()
                .or_else(|| self.arg(f, "last").as_i64());
            if def.named.ends_with("Connection") {
                // The connection's own fields are checked; its cost is
                // 2 + size × one node.
                let _ = self.cost(&f.selection_set, &def.named, errors);
                let Some(n) = size.or(self.bulk.then_some(0)) else {
                    errors.push(error(
                        format!("you must provide one of first or last (field '{}')", f.name),
                        "argumentLiteralsIncompatible",
                    ));
                    continue;
                };
                if !(0..=250).contains(&n) {
                    errors.push(error(
                        format!(
                            "The first or last argument of '{}' must be between 0 and 250",
                            f.name
                        ),
                        "argumentLiteralsIncompatible",
                    ));
                }
                total += 2.0 + n as f64 * self.node_cost(&f.selection_set, &def.named);
            } else if def.list {
                let inner = self.cost(&f.selection_set, &def.named, errors);
                total += size.unwrap_or(1) as f64 * (1.0 + inner);
            } else {
                total += 1.0 + self.cost(&f.selection_set, &def.named, errors);
            }
        }
        total
    }

    /// The cost of one node of a connection selection (`nodes` or
    /// `edges.node`).
    fn node_cost(&self, sel: &SelectionSet<'static, String>, conn: &str) -> f64 {
        let node_ty = schema().types[conn].fields["nodes"].named.clone();
        let mut fields = Vec::new();
        self.fields(sel, conn, &mut fields);
        let mut best: f64 = 0.0;
        for f in fields {
            let c = match f.name.as_str() {
                "nodes" => 1.0 + self.cost(&f.selection_set, &node_ty, &mut Vec::new()),
                "edges" => {
                    let mut inner = Vec::new();
                    self.fields(&f.selection_set, "", &mut inner);
                    inner
                        .iter()
                        .find(|g| g.name == "node")
                        .map(|g| 1.0 + self.cost(&g.selection_set, &node_ty, &mut Vec::new()))
                        .unwrap_or(0.0)
                }
                _ => 0.0,
            };
            best = best.max(c);
        }
        best
    }

    /// Projects `full` (an object of type `ty`) onto `sel`. A field whose
    /// type is a connection and whose full value is a list is cut by
    /// `first`/`after` into `nodes`, `edges` and `pageInfo`.
    pub fn project(&self, sel: &SelectionSet<'static, String>, ty: &str, full: &Value) -> Value {
        let schema = schema();
        let t = &schema.types[ty];
        let mut fields = Vec::new();
        self.fields(sel, ty, &mut fields);
        let mut out = Map::new();
        for f in fields {
            let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
            if f.name == "__typename" {
                out.insert(key, json!(ty));
                continue;
            }
            let def = &t.fields[&f.name];
            let raw = &full[f.name.as_str()];
            let v = if raw.is_null() {
                Value::Null
            } else if def.named.ends_with("Connection") && raw.is_array() {
                let all = raw.as_array().unwrap();
                let first = self.arg(f, "first").as_u64().unwrap_or(50) as usize;
                let start = self
                    .arg(f, "after")
                    .as_str()
                    .and_then(|c| c.strip_prefix("cur"))
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(0);
                let items: Vec<Value> = all.iter().skip(start).take(first).cloned().collect();
                let end = start + items.len();
                let conn = json!({
                    "nodes": items,
                    "edges": items.iter().enumerate().map(|(i, n)| json!({"node": n, "cursor": format!("cur{}", start + i + 1)})).collect::<Vec<_>>(),
                    "pageInfo": {"hasNextPage": end < all.len(), "hasPreviousPage": start > 0,
                        "startCursor": if items.is_empty() { Value::Null } else { json!(format!("cur{}", start + 1)) },
                        "endCursor": if items.is_empty() { Value::Null } else { json!(format!("cur{end}")) }},
                });
                self.project(&f.selection_set, &def.named, &conn)
            } else if let Some(list) = raw.as_array() {
                let n = self
                    .arg(f, "first")
                    .as_u64()
                    .map(|n| n as usize)
                    .unwrap_or(list.len());
                Value::Array(
                    list.iter()
                        .take(n)
                        .map(|x| {
                            if f.selection_set.items.is_empty() {
                                x.clone()
                            } else {
                                self.project(&f.selection_set, &def.named, x)
                            }
                        })
                        .collect(),
                )
            } else if f.selection_set.items.is_empty() {
                raw.clone()
            } else {
                self.project(&f.selection_set, &def.named, raw)
            };
            out.insert(key, v);
        }
        Value::Object(out)
    }
}

impl Request {
    /// A bulk operation's JSONL lines for its root connection over `all`
    /// (full objects): each node a line, each node of a nested connection a
    /// line of its own with `__parentId`, children after all parents (as an
    /// ungrouped operation may write them).
    pub fn bulk_lines(&self, all: &[Value]) -> Vec<Value> {
        let (_, sel) = self.operation();
        let mut roots = Vec::new();
        self.fields(sel, "QueryRoot", &mut roots);
        let root = roots[0];
        let conn = schema().types["QueryRoot"].fields[&root.name].named.clone();
        let (node_sel, node_ty) = self.node_selection(&root.selection_set, &conn);
        let mut parents = Vec::new();
        let mut children = Vec::new();
        for item in all {
            self.emit(node_sel, &node_ty, item, None, &mut parents, &mut children);
        }
        parents.extend(children);
        parents
    }

    fn node_selection<'s>(
        &'s self,
        sel: &'s SelectionSet<'static, String>,
        conn: &str,
    ) -> (&'s SelectionSet<'static, String>, String) {
        let node_ty = schema().types[conn].fields["nodes"].named.clone();
        let mut fields = Vec::new();
        self.fields(sel, conn, &mut fields);
        for f in fields {
            if f.name == "nodes" {
                return (&f.selection_set, node_ty);
            }
            if f.name == "edges" {
                let mut inner = Vec::new();
                self.fields(&f.selection_set, "", &mut inner);
                if let Some(n) = inner.into_iter().find(|g| g.name == "node") {
                    return (&n.selection_set, node_ty);
                }
            }
        }
        panic!("a connection without nodes")
    }

    fn emit(
        &self,
        sel: &SelectionSet<'static, String>,
        ty: &str,
        full: &Value,
        parent: Option<&str>,
        parents: &mut Vec<Value>,
        children: &mut Vec<Value>,
    ) {
        let t = &schema().types[ty];
        let mut line = self.project(sel, ty, full);
        let mut fields = Vec::new();
        self.fields(sel, ty, &mut fields);
        let id = full["id"].as_str().unwrap_or_default().to_string();
        for f in fields {
            let def = &t.fields[&f.name];
            if !def.named.ends_with("Connection") {
                continue;
            }
            line.as_object_mut().unwrap().remove(&f.name);
            let (node_sel, node_ty) = self.node_selection(&f.selection_set, &def.named);
            for item in full[f.name.as_str()].as_array().into_iter().flatten() {
                let mut kids = Vec::new();
                self.emit(node_sel, &node_ty, item, Some(&id), children, &mut kids);
                children.extend(kids);
            }
        }
        if let Some(p) = parent {
            line["__parentId"] = json!(p);
        }
        parents.push(line);
    }
}

/// The actual cost of an answer's `data`: 1 per object, a connection 2 +
/// its nodes, page info free.
pub fn actual_cost(data: &Value) -> f64 {
    fn walk(v: &Value) -> f64 {
        match v {
            Value::Object(m) if m.contains_key("nodes") || m.contains_key("edges") => {
                let nodes = m
                    .get("nodes")
                    .or_else(|| m.get("edges"))
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(walk).sum::<f64>())
                    .unwrap_or(0.0);
                2.0 + nodes
            }
            Value::Object(m) => {
                1.0 + m
                    .iter()
                    .filter(|(k, _)| k.as_str() != "pageInfo")
                    .map(|(_, v)| walk(v))
                    .sum::<f64>()
            }
            Value::Array(a) => a.iter().map(walk).sum(),
            _ => 0.0,
        }
    }
    (walk(data) - 1.0).max(0.0)
}
