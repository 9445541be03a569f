//! Strict reading of Lua tables passed to `lvs` functions: unknown fields and wrong types are
//! errors that name the field and the value, raised before anything reaches the kernel.

use mlua::{Table, Value};

use crate::model::SpecError;

pub fn spec_err(e: SpecError) -> mlua::Error {
    mlua::Error::external(e)
}

/// The error for a bad field: its name, the value given, and what it must be.
pub fn bad(field: &str, value: &Value, reason: &str) -> mlua::Error {
    spec_err(SpecError {
        field: field.into(),
        value: show(value),
        reason: reason.into(),
    })
}

/// A Lua value as an error message shows it.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{}\"", s.to_string_lossy()),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Nil => "nil".into(),
        other => format!("({})", other.type_name()),
    }
}

pub struct Fields {
    table: Table,
}

impl Fields {
    /// `allowed` are the fields the call understands; `ignored` are fields lvsh itself puts in
    /// the objects it returns (stats, servers, ...), so those objects can be passed back.
    pub fn new(table: Table, what: &str, allowed: &[&str], ignored: &[&str]) -> mlua::Result<Fields> {
        for pair in table.pairs::<Value, Value>() {
            let (k, v) = pair?;
            let name = match &k {
                Value::String(s) => s.to_string_lossy(),
                other => return Err(bad(what, other, "has a key that is not a field name")),
            };
            if !allowed.contains(&name.as_str()) && !ignored.contains(&name.as_str()) {
                let hint = format!("unknown field '{name}' (known: {})", allowed.join(", "));
                return Err(spec_err(SpecError {
                    field: what.into(),
                    value: String::new(),
                    reason: format!("{hint}; got {name} = {}", show(&v)),
                }));
            }
        }
        Ok(Fields { table })
    }

    pub fn raw(&self, name: &str) -> mlua::Result<Value> {
        self.table.raw_get(name)
    }

    pub fn string(&self, name: &str) -> mlua::Result<Option<String>> {
        match self.raw(name)? {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(
                s.to_str()
                    .map_err(|_| bad(name, &Value::String(s.clone()), "is not UTF-8"))?
                    .to_string(),
            )),
            other => Err(bad(name, &other, "must be a string")),
        }
    }

    pub fn int(&self, name: &str) -> mlua::Result<Option<i64>> {
        to_int(name, self.raw(name)?)
    }

    /// A number of seconds (integer or float), 0 or more.
    pub fn seconds(&self, name: &str) -> mlua::Result<Option<std::time::Duration>> {
        match self.raw(name)? {
            Value::Nil => Ok(None),
            v @ (Value::Integer(_) | Value::Number(_)) => {
                let n = match v {
                    Value::Integer(i) => i as f64,
                    Value::Number(n) => n,
                    _ => 0.0,
                };
                if n.is_finite() && (0.0..1e9).contains(&n) {
                    Ok(Some(std::time::Duration::from_secs_f64(n)))
                } else {
                    Err(bad(name, &v, "must be a number of seconds, 0 or more"))
                }
            }
            other => Err(bad(name, &other, "must be a number of seconds")),
        }
    }

    pub fn bool(&self, name: &str) -> mlua::Result<Option<bool>> {
        match self.raw(name)? {
            Value::Nil => Ok(None),
            Value::Boolean(b) => Ok(Some(b)),
            other => Err(bad(name, &other, "must be true or false")),
        }
    }

    /// A list of strings, or one comma-separated string.
    pub fn strings(&self, name: &str) -> mlua::Result<Option<Vec<String>>> {
        match self.raw(name)? {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(
                s.to_string_lossy()
                    .split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect(),
            )),
            Value::Table(t) => {
                let mut out = Vec::new();
                for v in t.sequence_values::<Value>() {
                    match v? {
                        Value::String(s) => out.push(s.to_string_lossy()),
                        other => return Err(bad(name, &other, "must be a list of strings")),
                    }
                }
                Ok(Some(out))
            }
            other => Err(bad(name, &other, "must be a list of strings")),
        }
    }
}

pub fn to_int(name: &str, v: Value) -> mlua::Result<Option<i64>> {
    match v {
        Value::Nil => Ok(None),
        Value::Integer(i) => Ok(Some(i)),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Ok(Some(n as i64)),
        other => Err(bad(name, &other, "must be an integer")),
    }
}
