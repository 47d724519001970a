//! The HTTP methods the server knows. Anything else is `405 method_not_allowed` before any other
//! work (`front`), and is counted and logged as `other`: a method is client input of any length, so it
//! never becomes a metrics label or a log field as sent.

use axum::http::Method;

/// The method as a bounded label: one of the methods served, or `other`.
pub fn label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_are_other() {
        assert_eq!(label(&Method::PATCH), "PATCH");
        assert_eq!(label(&Method::TRACE), "other");
        assert_eq!(label(&Method::from_bytes(b"XKQZXKQZ").unwrap()), "other");
    }
}
