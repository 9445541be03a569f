//! Lua values handed to `lvs` functions, turned into plain data (`model::input`) for the
//! layers below, which read them strictly; the errors name the field and the value.

use mlua::{Table, Value};

use crate::model::SpecError;
use crate::model::input::{self, Args};

pub fn spec_err(e: SpecError) -> mlua::Error {
    mlua::Error::external(e)
}

/// The error for a bad field: its name, the value given, and what it must be (worded as
/// `model::input::bad` words it).
pub fn bad(field: &str, value: &Value, reason: &str) -> mlua::Error {
    spec_err(input::bad(field, &scalar(value), reason))
}

/// A Lua value as an error message shows it.
pub fn show(v: &Value) -> String {
    input::show(&scalar(v))
}

/// A value as an error message needs it: scalars as they are, the rest by type.
fn scalar(v: &Value) -> input::Value {
    match v {
        Value::Table(_) => input::Value::Other("table"),
        v => to_value(v.clone()).unwrap_or(input::Value::Other("value")),
    }
}

/// How deep tables may nest in what a script hands in (a table holding itself would
/// otherwise never end).
const MAX_DEPTH: usize = 32;

/// A Lua value as plain data for the layers below. Functions and userdata stay behind as
/// their type's name: the binding that takes them reads them from the table itself.
pub fn to_value(v: Value) -> mlua::Result<input::Value> {
    value_at(v, 0)
}

/// As `to_value`, leaving out the fields `skip` names of a table: what lvsh itself puts in
/// the objects it returns (counters, a service's 20,000 servers) is not read to be ignored.
pub fn to_value_without(v: Value, skip: &[&str]) -> mlua::Result<input::Value> {
    let Value::Table(t) = &v else { return to_value(v) };
    if t.raw_len() > 0 {
        return to_value(v);
    }
    let mut map = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        match k {
            Value::String(k) if skip.iter().any(|s| k.as_bytes() == s.as_bytes()) => {}
            Value::String(k) => map.push((k.to_string_lossy(), value_at(v, 1)?)),
            other => return Err(bad("table", &other, "has a key that is not a field name")),
        }
    }
    Ok(input::Value::Map(map))
}

fn value_at(v: Value, depth: usize) -> mlua::Result<input::Value> {
    Ok(match v {
        Value::Nil => input::Value::Nil,
        Value::Boolean(b) => input::Value::Bool(b),
        Value::Integer(i) => input::Value::Int(i),
        Value::Number(n) => input::Value::Num(n),
        Value::String(s) => match s.to_str() {
            Ok(t) => input::Value::Str(t.to_string()),
            Err(_) => input::Value::Bytes(s.as_bytes().to_vec()),
        },
        Value::Table(_) if depth >= MAX_DEPTH => {
            return Err(mlua::Error::runtime(format!(
                "a table nested more than {MAX_DEPTH} deep, or holding itself"
            )));
        }
        Value::Table(t) => {
            let n = t.raw_len();
            let (mut list, mut map) = (Vec::with_capacity(n), Vec::new());
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                match k {
                    Value::Integer(i) if i >= 1 && (i as usize) <= n => {
                        list.push((i, value_at(v, depth + 1)?))
                    }
                    Value::String(k) => map.push((k.to_string_lossy(), value_at(v, depth + 1)?)),
                    other => return Err(bad("table", &other, "has a key that is not a field name")),
                }
            }
            match (list.is_empty(), map.is_empty()) {
                (false, false) => {
                    return Err(mlua::Error::runtime(format!(
                        "a table mixes a list with named fields ({} = ...)",
                        map[0].0
                    )));
                }
                (false, true) => {
                    list.sort_by_key(|(i, _)| *i);
                    input::Value::List(list.into_iter().map(|(_, v)| v).collect())
                }
                _ => input::Value::Map(map),
            }
        }
        other => input::Value::Other(other.type_name()),
    })
}

/// A table's fields: as plain data (`args`, for the layers below) and as Lua values (`raw`,
/// for what only Lua has: functions, userdata).
pub struct Fields {
    table: Table,
    args: Args,
}

impl Fields {
    /// `allowed` are the fields the call understands; `ignored` are fields lvsh itself puts in
    /// the objects it returns (stats, servers, ...), so those objects can be passed back.
    pub fn new(table: Table, what: &str, allowed: &[&str], ignored: &[&str]) -> mlua::Result<Fields> {
        let mut fields = Vec::new();
        for pair in table.pairs::<Value, Value>() {
            let (k, v) = pair?;
            let name = match &k {
                Value::String(s) => s.to_string_lossy(),
                other => return Err(bad(what, other, "has a key that is not a field name")),
            };
            if allowed.contains(&name.as_str()) {
                fields.push((name, to_value(v)?));
            } else if !ignored.contains(&name.as_str()) {
                return Err(spec_err(input::unknown(what, &name, &to_value(v)?, allowed)));
            }
        }
        let args = Args::new(what, fields, allowed, ignored).map_err(spec_err)?;
        Ok(Fields { table, args })
    }

    pub fn raw(&self, name: &str) -> mlua::Result<Value> {
        self.table.raw_get(name)
    }

    pub fn string(&self, name: &str) -> mlua::Result<Option<String>> {
        self.args.string(name).map_err(spec_err)
    }

    pub fn int(&self, name: &str) -> mlua::Result<Option<i64>> {
        self.args.int(name).map_err(spec_err)
    }

    /// A number of seconds (integer or float), 0 or more.
    pub fn seconds(&self, name: &str) -> mlua::Result<Option<std::time::Duration>> {
        self.args.seconds(name).map_err(spec_err)
    }

    pub fn bool(&self, name: &str) -> mlua::Result<Option<bool>> {
        self.args.bool(name).map_err(spec_err)
    }
}

/// Seconds as a duration, or an error naming the field and the value.
pub fn seconds(field: &str, v: f64) -> mlua::Result<std::time::Duration> {
    if v.is_finite() && (0.0..1e9).contains(&v) {
        Ok(std::time::Duration::from_secs_f64(v))
    } else {
        Err(mlua::Error::runtime(format!(
            "{field}: {v} is not a number of seconds (0 or more)"
        )))
    }
}
