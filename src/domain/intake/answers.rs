//! The bounds on an intake form's `answers`: a JSON object of at most 256 KiB (serialized),
//! nested at most 10 levels, with at most 5,000 values in all, keys of at most 200 characters,
//! no NUL character anywhere (PostgreSQL's jsonb cannot store it), and numbers of magnitude at
//! most 1e300: jsonb keeps a number as an exact decimal and writes it out in full, and a value
//! near the largest double no longer reads back as one.

use serde_json::Value;

pub const MAX_BYTES: usize = 256 * 1024;
pub const MAX_DEPTH: usize = 10;
pub const MAX_VALUES: usize = 5_000;
pub const MAX_KEY_CHARS: usize = 200;
pub const MAX_MAGNITUDE: f64 = 1e300;

/// `Err` is the message for the `answers` field.
pub fn check(answers: &Value) -> Result<(), String> {
    if !answers.is_object() {
        return Err("must be a JSON object".into());
    }
    let size = serde_json::to_vec(answers).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_BYTES {
        return Err("must be at most 256 KiB when serialized".into());
    }
    let mut count = 0;
    walk(answers, 1, &mut count)
}

fn walk(value: &Value, depth: usize, count: &mut usize) -> Result<(), String> {
    *count += 1;
    if *count > MAX_VALUES {
        return Err(format!("must hold at most {MAX_VALUES} values"));
    }
    match value {
        Value::String(s) if s.contains('\0') => Err("must not contain NUL characters".into()),
        Value::Number(n) if n.as_f64().is_none_or(|f| f.abs() > MAX_MAGNITUDE) => {
            Err("numbers must be of magnitude at most 1e300".into())
        }
        Value::Array(items) => {
            if depth >= MAX_DEPTH && !items.is_empty() {
                return Err(format!("must be nested at most {MAX_DEPTH} levels deep"));
            }
            items.iter().try_for_each(|v| walk(v, depth + 1, count))
        }
        Value::Object(map) => {
            if depth >= MAX_DEPTH && !map.is_empty() {
                return Err(format!("must be nested at most {MAX_DEPTH} levels deep"));
            }
            for (key, v) in map {
                if key.chars().count() > MAX_KEY_CHARS {
                    return Err(format!("keys must be at most {MAX_KEY_CHARS} characters"));
                }
                if key.contains('\0') {
                    return Err("must not contain NUL characters".into());
                }
                walk(v, depth + 1, count)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> Value {
        (1..levels).fold(json!({}), |inner, _| json!({ "a": inner }))
    }

    #[test]
    fn objects_within_bounds_pass() {
        assert!(check(&json!({})).is_ok());
        assert!(check(&json!({"allergies": ["penicillin"], "smoker": false, "height": 1.8})).is_ok());
        assert!(check(&nested(MAX_DEPTH)).is_ok());
    }

    #[test]
    fn everything_else_is_refused() {
        for bad in [json!(null), json!([]), json!("x"), json!(1)] {
            assert!(check(&bad).is_err(), "{bad}");
        }
        assert!(check(&nested(MAX_DEPTH + 1)).is_err());
        assert!(check(&json!({ "k": "a\u{0}b" })).is_err());
        assert!(check(&json!({ "a\u{0}": 1 })).is_err());
        assert!(check(&json!({ "k".repeat(MAX_KEY_CHARS + 1): 1 })).is_err());
        assert!(check(&json!({ "k": "x".repeat(MAX_BYTES) })).is_err());
        assert!(check(&json!({ "k": vec![1; MAX_VALUES] })).is_err());
        assert!(check(&json!({ "k": f64::MAX })).is_err());
        assert!(check(&json!({ "k": [-1.7976931348623157e308] })).is_err());
        assert!(check(&json!({ "k": 1e300, "i": i64::MIN, "u": u64::MAX })).is_ok());
    }
}
