//! A structural check of a raw document against the JSON schema of its Rust type.
//!
//! The schemas are generated from the same types that deserialize the document (the CRD's
//! `openAPIV3Schema`, or schemars' OpenAPI 3 output for the workflow files), so the check and
//! the parser cannot disagree. Unlike a deserializer it reports *every* problem, and it says what
//! would be right: the allowed keys (with a suggestion for a typo), the expected type, the bound.
//!
//! An unknown key in an object with `properties` is a warning with the allowed keys and a
//! suggestion for a typo: the original passed such keys through (the API server prunes them, the
//! Python manager never read them), so its inputs with stray keys still load, while a typo does
//! not go unnoticed (`smo validate --strict` fails on it). Where the original's own schema
//! refused unknown keys, the object is marked [`CLOSED`] and they stay errors.
//! `x-kubernetes-preserve-unknown-fields` opens an object, and `additionalProperties` with a
//! schema makes it a map.
//!
//! After a problem the check recovers, so that later checks still run: an unknown key, or a value
//! of the wrong type, is removed from the document (the field then takes its default), and the
//! caller goes on to check meaning with what is left.
//!
//! The check also normalises the document in place the way the original's loaders did, so that
//! deserialisation afterwards sees clean values: a `null` in an optional field is removed (the API
//! server drops it too), and in [`Mode::File`] a scalar where text is expected becomes text
//! (`environment: {EPOCHS: 1}` → `"1"`) and YAML 1.1 words become booleans (`autoscale: no`).

use serde_json::{Map, Value};

use super::{Problems, did_you_mean};

/// Which loader's leniency applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A `StateMachine` manifest: types are exact, as the API server enforces them.
    Manifest,
    /// The original's workflow and job files, read by PyYAML 1.1 and Python: scalars where text
    /// is expected are text, and yes/no/on/off are booleans.
    File,
}

/// Schema extension marking an object whose unknown keys are errors, not warnings: the
/// original refused unknown keys there too (its JSON schema closed the object). Everywhere else
/// an unknown key is a warning and is dropped, since the original passed it through.
pub const CLOSED: &str = "x-smo-closed";

/// Marks the object schema at `pointer` (and the object branches of an `anyOf`/`allOf`/`oneOf`
/// there) as [`CLOSED`]. A pointer that does not exist is left alone.
pub fn close(schema: &mut Value, pointer: &str) {
    fn mark(node: &mut Value) {
        for combinator in ["anyOf", "allOf", "oneOf"] {
            if let Some(branches) = node.get_mut(combinator).and_then(Value::as_array_mut) {
                branches.iter_mut().for_each(mark);
            }
        }
        if let Some(obj) = node.as_object_mut().filter(|o| o.contains_key("properties")) {
            obj.insert(CLOSED.to_string(), Value::Bool(true));
        }
    }
    if let Some(node) = schema.pointer_mut(pointer) {
        mark(node);
    }
}

/// Checks `value` against `schema`; problems go to `problems` under `file` and `path`.
pub fn check(value: &mut Value, schema: &Value, file: &str, path: &str, mode: Mode, problems: &mut Problems) {
    let usable = Walker { file, mode, problems }.walk(value, schema, path);
    if !usable {
        *value = Value::Null;
    }
}

struct Walker<'a> {
    file: &'a str,
    mode: Mode,
    problems: &'a mut Problems,
}

/// `path.key`, or `path["key"]` for keys that contain a dot.
pub fn join(path: &str, key: &str) -> String {
    if key.contains('.') || key.contains(' ') {
        format!("{path}[{key:?}]")
    } else if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) if s.len() > 40 => "a string".into(),
        Value::String(s) => format!("a string ({s:?})"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn types_of(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn type_name(t: &str) -> &str {
    match t {
        "object" => "a mapping",
        "array" => "a list",
        "string" => "text",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        other => other,
    }
}

/// A neutral value of `schema`'s type, standing in for a missing required field.
fn placeholder(schema: &Value) -> Option<Value> {
    let types = types_of(schema);
    let first = types.iter().find(|t| **t != "null")?;
    Some(match *first {
        "string" => Value::String(String::new()),
        "integer" | "number" => schema.get("minimum").cloned().unwrap_or(Value::from(0)),
        "boolean" => Value::Bool(false),
        "array" => Value::Array(Vec::new()),
        "object" => {
            let mut map = Map::new();
            let required = schema.get("required").and_then(Value::as_array);
            for key in required.into_iter().flatten().filter_map(Value::as_str) {
                if let Some(v) = schema.pointer(&format!("/properties/{key}")).and_then(placeholder) {
                    map.insert(key.to_string(), v);
                }
            }
            Value::Object(map)
        }
        _ => return None,
    })
}

fn yaml11_bool(s: &str) -> Option<bool> {
    match s {
        "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" | "y" | "Y" => Some(true),
        "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" | "n" | "N" => Some(false),
        _ => None,
    }
}

impl Walker<'_> {
    fn error(&mut self, path: &str, message: String) {
        self.problems.error(self.file, path, message);
    }

    /// True if `value` passes `schema` without recording anything (for anyOf branches).
    fn passes(&self, value: &Value, schema: &Value) -> bool {
        let mut scratch = Problems::new();
        let mut copy = value.clone();
        Walker { file: self.file, mode: self.mode, problems: &mut scratch }.walk(&mut copy, schema, "");
        !scratch.has_errors()
    }

    /// Checks one value; false when the value itself is unusable (wrong type) and should go.
    fn walk(&mut self, value: &mut Value, schema: &Value, path: &str) -> bool {
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            let mut usable = true;
            for s in all {
                usable &= self.walk(value, s, path);
            }
            if !usable {
                return false;
            }
        }
        if let Some(any) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(Value::as_array) {
            if !any.iter().any(|s| self.passes(value, s)) {
                let wanted: Vec<&str> = any.iter().flat_map(types_of).map(type_name).collect();
                self.error(path, format!("expected {}, found {}", wanted.join(" or "), describe(value)));
                return false;
            }
            return true;
        }
        if value.is_null() {
            if schema.get("nullable").and_then(Value::as_bool) != Some(true)
                && !types_of(schema).contains(&"null")
                && !schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool).unwrap_or(false)
            {
                self.error(path, "must not be null".into());
                return false;
            }
            return true;
        }
        if schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
            if !(value.is_number() || value.is_string()) {
                self.error(path, format!("expected a number or text, found {}", describe(value)));
                return false;
            }
            return true;
        }
        let types = types_of(schema);
        if types.contains(&"integer")
            && let Some(whole) = value.as_f64().filter(|f| f.fract() == 0.0 && !value.is_i64() && !value.is_u64())
            && whole.abs() < 9.0e15
        {
            // `nodes: 2.0` is the integer 2 (YAML and JSON writers produce such numbers).
            *value = Value::from(whole as i64);
        }
        if !types.is_empty() && !self.type_matches(value, &types) && !self.coerce(value, &types) {
            let wanted: Vec<&str> = types.iter().filter(|t| **t != "null").map(|t| type_name(t)).collect();
            self.error(path, format!("expected {}, found {}", wanted.join(" or "), describe(value)));
            return false;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let list: Vec<String> =
                allowed.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect();
            self.error(path, format!("must be one of: {}; found {}", list.join(", "), describe(value)));
        }
        match value {
            Value::Number(n) => self.check_number(n.as_f64().unwrap_or(0.0), n.is_i64() || n.is_u64(), schema, path),
            Value::String(text) => {
                if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                    && text.chars().count() as u64 > max
                {
                    self.error(path, format!("is {} characters long; at most {max} are allowed", text.chars().count()));
                }
            }
            Value::Array(items) => {
                if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                    && items.len() as u64 > max
                {
                    self.error(path, format!("has {} entries; at most {max} are allowed", items.len()));
                }
                if let Some(item_schema) = schema.get("items") {
                    let mut unusable = Vec::new();
                    for (i, item) in items.iter_mut().enumerate() {
                        if !self.walk(item, item_schema, &format!("{path}[{i}]")) {
                            unusable.push(i);
                        }
                    }
                    for i in unusable.into_iter().rev() {
                        items.remove(i);
                    }
                }
            }
            Value::Object(map) => self.check_object(map, schema, path),
            _ => {}
        }
        true
    }

    fn type_matches(&self, value: &Value, types: &[&str]) -> bool {
        types.iter().any(|t| match (*t, value) {
            ("object", Value::Object(_)) | ("array", Value::Array(_)) | ("string", Value::String(_)) => true,
            ("boolean", Value::Bool(_)) | ("null", Value::Null) => true,
            ("number", Value::Number(_)) => true,
            ("integer", Value::Number(n)) => n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
            _ => false,
        })
    }

    /// File mode: text where text is expected, YAML 1.1 words where booleans are.
    fn coerce(&self, value: &mut Value, types: &[&str]) -> bool {
        if self.mode != Mode::File {
            return false;
        }
        if types.contains(&"string") {
            let text = match value {
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            if let Some(text) = text {
                *value = Value::String(text);
                return true;
            }
        }
        if types.contains(&"boolean")
            && let Some(b) = value.as_str().and_then(yaml11_bool)
        {
            *value = Value::Bool(b);
            return true;
        }
        false
    }

    fn check_number(&mut self, n: f64, integral: bool, schema: &Value, path: &str) {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            self.error(path, format!("must be at least {min}, found {n}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            self.error(path, format!("must be at most {max}, found {n}"));
        }
        if schema.get("format").and_then(Value::as_str) == Some("int32")
            && integral
            && (n > i32::MAX as f64 || n < i32::MIN as f64)
        {
            self.error(path, format!("{n} does not fit a 32-bit integer"));
        }
    }

    fn check_object(&mut self, map: &mut Map<String, Value>, schema: &Value, path: &str) {
        let props = schema.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for key in &required {
            if map.get(*key).is_none_or(Value::is_null) {
                self.error(&join(path, key), "is required".into());
                // A stand-in keeps the document parseable, so the checks of meaning still run
                // and report the rest; the error above already fails validation.
                if let Some(stand_in) = props.and_then(|p| p.get(*key)).and_then(placeholder) {
                    map.insert((*key).to_string(), stand_in);
                }
            }
        }
        // An optional key set to null counts as absent (the API server drops it too).
        map.retain(|k, v| !v.is_null() || required.contains(&k.as_str()));
        let open = schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool).unwrap_or(false);
        let additional = schema.get("additionalProperties");
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            let child_path = join(path, &key);
            let Some(value) = map.get_mut(&key) else { continue };
            let usable = if let Some(child) = props.and_then(|p| p.get(&key)) {
                self.walk(value, child, &child_path)
            } else if let Some(extra) = additional.filter(|a| a.is_object()) {
                self.walk(value, extra, &child_path)
            } else if props.is_some() && !open && additional.and_then(Value::as_bool) != Some(true) {
                let names: Vec<&str> = props.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                let hint = did_you_mean(&key, names.iter().copied());
                if schema.get(CLOSED).and_then(Value::as_bool) == Some(true) {
                    self.error(&child_path, format!("unknown field{hint}; allowed here: {}", names.join(", ")));
                } else {
                    // The original let such a key through (the API server prunes it, the
                    // manager never read it), so refusing it would refuse the original's own
                    // inputs; a warning still catches the typo, and `--strict` fails on it.
                    self.problems.warn(
                        self.file,
                        &child_path,
                        format!("unknown field, ignored{hint}; allowed here: {}", names.join(", ")),
                    );
                }
                // Either way the key goes, as Kubernetes prunes it: the field keeps its default.
                false
            } else {
                true
            };
            if !usable {
                map.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(mut doc: Value, schema: Value, mode: Mode) -> (Value, Vec<String>) {
        let mut p = Problems::new();
        check(&mut doc, &schema, "f.yaml", "", mode, &mut p);
        let line = |p: &super::super::Problem| {
            let level = if p.severity == super::super::Severity::Warning { "warning: " } else { "" };
            format!("{}: {level}{}", p.path, p.message)
        };
        (doc, p.0.iter().map(line).collect())
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "format": "int32"},
                "name": {"type": "string", "nullable": true},
                "flag": {"type": "boolean"},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "items": {"type": "array", "items": {"type": "object", "properties": {"tag": {"type": "string"}}}},
                "when": {"x-kubernetes-int-or-string": true},
                "kind": {"type": "string", "enum": ["a", "b"]},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        })
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let (_, errs) = run(
            json!({"size": 0, "sizee": 1, "flag": "maybe", "items": [{"tag": "x"}, {"tg": "y"}], "kind": "c", "when": [1]}),
            schema(),
            Mode::Manifest,
        );
        assert!(errs.contains(&"size: must be at least 1, found 0".to_string()), "{errs:?}");
        assert!(
            errs.iter().any(|e| e.starts_with("sizee: warning: unknown field, ignored (did you mean `size`?)")),
            "{errs:?}"
        );
        assert!(errs.contains(&"flag: expected true or false, found a string (\"maybe\")".to_string()), "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("items[1].tg: warning: unknown field, ignored")), "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("kind: must be one of: a, b")), "{errs:?}");
        assert!(errs.iter().any(|e| e.starts_with("when: expected a number or text")), "{errs:?}");
        assert_eq!(errs.len(), 6, "{errs:?}");
    }

    #[test]
    fn unknown_keys_are_warnings_and_are_dropped() {
        // The original passed unknown keys through (Kubernetes prunes them), so they must not
        // refuse a document; they are dropped, leaving the rest usable.
        for mode in [Mode::Manifest, Mode::File] {
            let mut p = Problems::new();
            let mut doc = json!({"size": 2, "colour": "blue", "items": [{"tag": "x", "tga": "y"}]});
            check(&mut doc, &schema(), "f.yaml", "", mode, &mut p);
            assert!(!p.has_errors(), "{p}");
            assert_eq!(p.warnings().count(), 2, "{p}");
            assert!(
                p.to_string()
                    .contains("items[0].tga: warning: unknown field, ignored (did you mean `tag`?); allowed here: tag"),
                "{p}"
            );
            assert_eq!(doc, json!({"size": 2, "items": [{"tag": "x"}]}));
        }
    }

    #[test]
    fn closed_objects_refuse_unknown_keys() {
        // Where the original's schema refused unknown keys, smo does too.
        let mut closed = schema();
        close(&mut closed, "/properties/items/items");
        close(&mut closed, "/no/such/pointer");
        let (_, errs) = run(json!({"size": 1, "items": [{"tg": "y"}], "extra": 1}), closed, Mode::File);
        assert!(
            errs.contains(&"items[0].tg: unknown field (did you mean `tag`?); allowed here: tag".to_string()),
            "{errs:?}"
        );
        assert!(errs.iter().any(|e| e.starts_with("extra: warning: unknown field, ignored")), "{errs:?}");
        assert_eq!(errs.len(), 2, "{errs:?}");
    }

    #[test]
    fn missing_required_and_nulls() {
        let (doc, errs) = run(json!({"name": null, "flag": null}), schema(), Mode::Manifest);
        assert_eq!(errs, vec!["size: is required".to_string()]);
        assert_eq!(doc, json!({"size": 1}), "optional nulls are dropped; a missing required field gets a stand-in");
    }

    #[test]
    fn file_mode_coerces_like_the_original() {
        let (doc, errs) = run(json!({"size": 2, "env": {"A": 1, "B": true}, "flag": "yes"}), schema(), Mode::File);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(doc["env"], json!({"A": "1", "B": "true"}));
        assert_eq!(doc["flag"], json!(true));
        let (_, errs) = run(json!({"size": 2, "env": {"A": 1}}), schema(), Mode::Manifest);
        assert_eq!(errs, vec!["env.A: expected text, found a number (1)".to_string()]);
    }

    #[test]
    fn open_objects_accept_anything() {
        let (_, errs) = run(json!({"size": 1, "free": {"x": {"y": 1}}}), schema(), Mode::Manifest);
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn whole_floats_are_integers() {
        let (doc, errs) = run(json!({"size": 2.0}), schema(), Mode::Manifest);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(doc, json!({"size": 2}));
        let (_, errs) = run(json!({"size": 2.5}), schema(), Mode::Manifest);
        assert_eq!(errs, vec!["size: expected an integer, found a number (2.5)".to_string()]);
    }

    #[test]
    fn int32_overflow() {
        let (_, errs) = run(json!({"size": 5_000_000_000u64}), schema(), Mode::Manifest);
        assert!(errs[0].contains("32-bit"), "{errs:?}");
    }
}
