//! A tool call's arguments, checked against the tool's parameters before the tool runs.
//!
//! Assistants send whatever JSON they like; checking up front means each tool sees well-typed
//! values, and a mistake comes back as a sentence naming the argument and what it should be
//! (never a panic: a plugin that panics fails the whole call).

use serde_json::{Map, Value};

use crate::catalog::{Kind, Param, ToolSpec};

/// The checked arguments of one call.
pub struct Args {
    values: Map<String, Value>,
}

/// Parses `raw` (a JSON object as text) and checks it against `spec`.
pub fn parse(spec: &ToolSpec, raw: &str) -> Result<Args, String> {
    let value = if raw.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(raw)
            .map_err(|e| format!("The arguments of {} are not valid JSON: {e}.", spec.name))?
    };
    let Value::Object(mut values) = value else {
        return Err(format!(
            "The arguments of {} must be a JSON object with: {}.",
            spec.name,
            spec.param_names()
        ));
    };
    if let Some(unknown) = values
        .keys()
        .find(|key| !spec.params.iter().any(|p| p.name == key.as_str()))
    {
        return Err(format!(
            "Unknown argument '{unknown}' for {}; it takes: {}.",
            spec.name,
            spec.param_names()
        ));
    }
    // A null is taken as "not given", which is how many clients send an omitted option.
    values.retain(|_, v| !v.is_null());
    for param in spec.params {
        match values.get(param.name) {
            None if param.required => {
                return Err(format!(
                    "Missing argument '{}' for {}: {}",
                    param.name, spec.name, param.description
                ));
            }
            None => {}
            Some(value) => check(spec, param, value)?,
        }
    }
    Ok(Args { values })
}

/// Checks one value against its parameter's kind.
fn check(spec: &ToolSpec, param: &Param, value: &Value) -> Result<(), String> {
    let fits = match param.kind {
        Kind::Text => value.is_string(),
        Kind::Integer { min, max } => value.as_u64().is_some_and(|n| n >= min && n <= max),
        Kind::Boolean => value.is_boolean(),
        Kind::TextList { max } => value.as_array().is_some_and(|items| {
            !items.is_empty() && items.len() <= max && items.iter().all(Value::is_string)
        }),
        Kind::Moment => value.is_string() || value.is_i64(),
    };
    if fits {
        return Ok(());
    }
    let expected = match param.kind {
        Kind::Text => "a string".to_string(),
        Kind::Integer { min, max } => format!("a whole number from {min} to {max}"),
        Kind::Boolean => "true or false".to_string(),
        Kind::TextList { max } => format!("an array of 1 to {max} strings"),
        Kind::Moment => "Unix seconds (a number) or an RFC 3339 date or timestamp".to_string(),
    };
    Err(format!(
        "Argument '{}' of {} must be {expected}, not {}.",
        param.name,
        spec.name,
        describe(value)
    ))
}

/// A short description of a JSON value, for error messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() > 40 => "a long string".into(),
        Value::String(s) => format!("\"{s}\""),
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::Object(_) => "an object".into(),
    }
}

impl Args {
    /// A string argument, if given.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(Value::as_str)
    }

    /// A required string argument (present once [`parse`] accepted the call).
    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.text(name)
            .ok_or_else(|| format!("Missing argument '{name}'."))
    }

    /// A whole-number argument, if given.
    pub fn number(&self, name: &str) -> Option<u64> {
        self.values.get(name).and_then(Value::as_u64)
    }

    /// A boolean argument, if given.
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.values.get(name).and_then(Value::as_bool)
    }

    /// A list-of-strings argument (empty if not given).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.values
            .get(name)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Any argument as raw JSON, for kinds with more than one shape.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::find;

    fn try_parse(tool: &str, raw: &str) -> Result<Args, String> {
        parse(find(tool).expect("tool"), raw)
    }

    #[test]
    fn refuses_unknown_missing_and_mistyped() {
        let err = try_parse("read_note", r#"{"path":"A","colour":1}"#)
            .err()
            .unwrap();
        assert!(err.contains("Unknown argument 'colour'"), "{err}");
        let err = try_parse("read_note", "{}").err().unwrap();
        assert!(err.contains("Missing argument 'path'"), "{err}");
        let err = try_parse("read_note", r#"{"path":3}"#).err().unwrap();
        assert!(
            err.contains("'path' of read_note must be a string"),
            "{err}"
        );
        let err = try_parse("list_notes", r#"{"limit":0}"#).err().unwrap();
        assert!(err.contains("from 1 to 1000"), "{err}");
        let err = try_parse("read_notes", r#"{"paths":[]}"#).err().unwrap();
        assert!(err.contains("1 to 20 strings"), "{err}");
        assert!(try_parse("read_note", "[1]").is_err());
        assert!(try_parse("read_note", "{").is_err());
    }

    #[test]
    fn accepts_well_typed_and_null_options() {
        let args = try_parse("read_note", r#"{"path":"A","revision":null}"#).unwrap();
        assert_eq!(args.text("path"), Some("A"));
        assert_eq!(args.text("revision"), None);
        let args = try_parse("list_notes", r#"{"updated_since":"2025-01-01","limit":5}"#).unwrap();
        assert_eq!(args.number("limit"), Some(5));
        assert!(try_parse("whoami", "").is_ok());
    }
}
