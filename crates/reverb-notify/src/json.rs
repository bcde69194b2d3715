//! Reading Echo's free-form maps the way Groovy and Jackson read them.

use serde_json::Value;

/// `a.b.c` lookup through objects; `None` when any step is missing or not an object.
pub(crate) fn path<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter()
        .try_fold(value, |v, key| v.as_object()?.get(*key))
}

/// Groovy truthiness for text: a non-empty string.
pub(crate) fn truthy_str(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Java's `Boolean.parseBoolean(value.toString())`: `true` or any-case `"true"`.
pub(crate) fn parse_bool(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A scalar as FreeMarker prints it with `?c` (numbers without grouping); `None` for null or
/// missing (FreeMarker's `??` is false).
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// An epoch-milliseconds value as epoch seconds.
pub(crate) fn millis_to_secs(value: Option<&Value>) -> Option<i64> {
    let millis = value?
        .as_i64()
        .or_else(|| value?.as_f64().map(|f| f as i64))?;
    Some(millis.div_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_like_groovy_and_java() {
        let v = json!({"a": {"b": {"c": 1}}, "s": "", "t": "True", "n": null});
        assert_eq!(path(&v, &["a", "b", "c"]), Some(&json!(1)));
        assert_eq!(path(&v, &["a", "x", "c"]), None);
        assert_eq!(truthy_str(v.get("s")), None);
        assert!(parse_bool(v.get("t")));
        assert!(!parse_bool(v.get("n")));
        assert!(parse_bool(Some(&json!(true))));
        assert_eq!(text(v.get("n")), None);
        assert_eq!(text(Some(&json!(12345))), Some("12345".into()));
        assert_eq!(
            millis_to_secs(Some(&json!(1_712_570_715_000_i64))),
            Some(1_712_570_715)
        );
    }
}
