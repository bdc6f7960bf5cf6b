//! Email/query's filter and sort (RFC 8621 §4.4) as the domain's query conditions.

use kontor_domain::ids::Timestamp;
use kontor_domain::mail::query::{Condition, Sort, SortKey};
use kontor_domain::mail::search::{TextCondition, TextField, TextQuery};
use serde_json::{Map, Value};

use crate::error::MethodError;
use crate::ids;

fn unsupported(why: impl Into<String>) -> MethodError {
    MethodError::new("unsupportedFilter", why)
}

/// A filter (FilterOperator or FilterCondition); null matches everything.
pub fn filter(v: Option<&Value>, resolve: &dyn Fn(&str) -> Option<String>) -> Result<Condition, MethodError> {
    match v {
        None | Some(Value::Null) => Ok(Condition::All(Vec::new())),
        Some(Value::Object(o)) => node(o, resolve, 0),
        Some(_) => Err(MethodError::invalid_arguments("filter must be an object or null")),
    }
}

fn node(
    o: &Map<String, Value>,
    resolve: &dyn Fn(&str) -> Option<String>,
    depth: usize,
) -> Result<Condition, MethodError> {
    if depth > 16 {
        return Err(unsupported("the filter is nested too deep"));
    }
    if let Some(op) = o.get("operator") {
        let Some(Value::Array(conds)) = o.get("conditions") else {
            return Err(MethodError::invalid_arguments("a FilterOperator needs conditions"));
        };
        let list = conds
            .iter()
            .map(|c| match c {
                Value::Object(c) => node(c, resolve, depth + 1),
                _ => Err(MethodError::invalid_arguments("each condition must be an object")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return match op.as_str() {
            Some("AND") => Ok(Condition::All(list)),
            Some("OR") => Ok(Condition::Any(list)),
            Some("NOT") => Ok(Condition::None(list)),
            _ => Err(MethodError::invalid_arguments("operator must be AND, OR or NOT")),
        };
    }
    let mut all = Vec::new();
    let mut text = Vec::new();
    for (k, v) in o {
        let string = || {
            v.as_str().ok_or_else(|| MethodError::invalid_arguments(format!("filter property {k} must be a string")))
        };
        let uint = || {
            v.as_u64().ok_or_else(|| MethodError::invalid_arguments(format!("filter property {k} must be an integer")))
        };
        let keyword = || -> Result<String, MethodError> {
            let w = string()?;
            if !super::is_keyword(w) {
                return Err(MethodError::invalid_arguments(format!("{w:?} is not a keyword")));
            }
            Ok(w.to_ascii_lowercase())
        };
        let mailbox = |s: &str| resolve(s).and_then(|r| ids::parse_mailbox(&r));
        match k.as_str() {
            "inMailbox" => all.push(mailbox(string()?).map_or(Condition::False, Condition::InMailbox)),
            "inMailboxOtherThan" => {
                let Value::Array(list) = v else {
                    return Err(MethodError::invalid_arguments("inMailboxOtherThan must be an array of ids"));
                };
                let ids = list.iter().filter_map(Value::as_str).filter_map(mailbox).collect();
                all.push(Condition::InMailboxOtherThan(ids));
            }
            "before" => all.push(Condition::Before(date(k, v)?)),
            "after" => all.push(Condition::After(date(k, v)?)),
            "minSize" => all.push(Condition::MinSize(uint()?)),
            "maxSize" => all.push(Condition::MaxSize(uint()?)),
            "hasKeyword" => all.push(Condition::HasKeyword(keyword()?)),
            "notKeyword" => all.push(Condition::None(vec![Condition::HasKeyword(keyword()?)])),
            "allInThreadHaveKeyword" => all.push(Condition::AllInThreadHaveKeyword(keyword()?)),
            "someInThreadHaveKeyword" => all.push(Condition::SomeInThreadHaveKeyword(keyword()?)),
            "noneInThreadHaveKeyword" => all.push(Condition::NoneInThreadHaveKeyword(keyword()?)),
            "hasAttachment" => all.push(Condition::HasAttachment(
                v.as_bool().ok_or_else(|| MethodError::invalid_arguments("hasAttachment must be a boolean"))?,
            )),
            "text" => text.push(TextCondition::new(TextField::Text, string()?)),
            "from" => text.push(TextCondition::new(TextField::From, string()?)),
            "to" => text.push(TextCondition::new(TextField::To, string()?)),
            "cc" => text.push(TextCondition::new(TextField::Cc, string()?)),
            "bcc" => text.push(TextCondition::new(TextField::Bcc, string()?)),
            "subject" => text.push(TextCondition::new(TextField::Subject, string()?)),
            "body" => text.push(TextCondition::new(TextField::Body, string()?)),
            "header" => {
                let parts: Vec<&str> = match v {
                    Value::Array(a) if (1..=2).contains(&a.len()) => a.iter().filter_map(Value::as_str).collect(),
                    _ => Vec::new(),
                };
                match parts.as_slice() {
                    [name] => text.push(TextCondition::new(TextField::header(name), "")),
                    [name, value] => text.push(TextCondition::new(TextField::header(name), value)),
                    _ => return Err(MethodError::invalid_arguments("header must be [name] or [name, value]")),
                }
            }
            other => return Err(unsupported(format!("cannot filter emails by {other:?}"))),
        }
    }
    if !text.is_empty() {
        all.push(Condition::Text(TextQuery { all: text }));
    }
    Ok(if all.len() == 1 { all.pop().unwrap_or(Condition::False) } else { Condition::All(all) })
}

/// A UTCDate (`2024-01-31T10:00:00Z`).
fn date(name: &str, v: &Value) -> Result<Timestamp, MethodError> {
    let bad = || MethodError::invalid_arguments(format!("{name} must be a UTCDate like 2024-01-31T10:00:00Z"));
    let s = v.as_str().ok_or_else(bad)?;
    let d = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| bad())?;
    Ok(Timestamp(d.timestamp_millis()))
}

/// The sort (§4.4.2); an empty list: newest first.
pub fn sort(v: Option<&Value>) -> Result<Vec<Sort>, MethodError> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(MethodError::invalid_arguments("sort must be an array")),
    };
    list.iter()
        .map(|c| {
            let Value::Object(c) = c else { return Err(MethodError::invalid_arguments("a Comparator is an object")) };
            let keyword = || {
                c.get("keyword")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
                    .ok_or_else(|| MethodError::invalid_arguments("this sort needs a keyword"))
            };
            let key = match c.get("property").and_then(Value::as_str) {
                Some("receivedAt") => SortKey::ReceivedAt,
                Some("sentAt") => SortKey::SentAt,
                Some("size") => SortKey::Size,
                Some("from") => SortKey::From,
                Some("to") => SortKey::To,
                Some("subject") => SortKey::Subject,
                Some("hasKeyword") => SortKey::HasKeyword(keyword()?),
                Some("allInThreadHaveKeyword") => SortKey::AllInThreadHaveKeyword(keyword()?),
                Some("someInThreadHaveKeyword") => SortKey::SomeInThreadHaveKeyword(keyword()?),
                other => return Err(MethodError::new("unsupportedSort", format!("cannot sort emails by {other:?}"))),
            };
            let ascending = match c.get("isAscending") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(MethodError::invalid_arguments("isAscending must be a boolean")),
            };
            Ok(Sort { key, ascending })
        })
        .collect()
}
