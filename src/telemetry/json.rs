//! The JSON log line, written straight into the line's buffer:
//! `{"timestamp":…,"level":…,"fields":{…},"target":…,"span":{…,"name":…}}`, the shape of
//! `tracing_subscriber`'s JSON format with the current span. That format parses the span's
//! stored fields back into a JSON value and serializes them again on every line, and passes
//! every byte through a UTF-8 check on its way to the writer; here the span's fields, stored as
//! JSON text when the span opened (`JsonFields`), are copied as they are (bench/README.md, "Log
//! lines").

use std::fmt::{self, Write};

use chrono::{Datelike, Timelike, Utc};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter of `KLINIVO_LOG_FORMAT=json`; spans' fields must be formatted by
/// [`JsonFields`].
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, JsonFields>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let now = Utc::now();
        write!(
            w,
            "{{\"timestamp\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z\",\"level\":\"{}\",\"fields\":{{",
            now.year(),
            now.month(),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            // A leap second's nanoseconds run past a second.
            now.timestamp_subsec_micros().min(999_999),
            meta.level(),
        )?;
        let mut fields = Fields { w: &mut w, first: true, result: Ok(()) };
        event.record(&mut fields);
        fields.result?;
        w.write_str("},\"target\":")?;
        string(&mut w, meta.target())?;
        let span = event.parent().and_then(|id| ctx.span(id)).or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            w.write_str(",\"span\":{")?;
            let extensions = span.extensions();
            let stored = extensions.get::<FormattedFields<JsonFields>>().map(|f| f.fields.as_str());
            let inner = stored.and_then(|s| s.trim().strip_prefix('{')?.strip_suffix('}')).unwrap_or("");
            if !inner.trim().is_empty() {
                w.write_str(inner)?;
                w.write_char(',')?;
            }
            w.write_str("\"name\":")?;
            string(&mut w, span.name())?;
            w.write_char('}')?;
        }
        w.write_str("}\n")
    }
}

/// An event's fields as the members of a JSON object.
struct Fields<'a, 'w> {
    w: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { "," };
        self.first = false;
        self.result = self
            .w
            .write_str(separator)
            .and_then(|()| string(self.w, field.name()))
            .and_then(|()| self.w.write_char(':'))
            .and_then(|()| value(self.w));
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| string(w, value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| write!(w, "{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| write!(w, "{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| write!(w, "{value}"));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity; serde_json writes them as null too.
        self.member(field, |w| if value.is_finite() { write!(w, "{value}") } else { w.write_str("null") });
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |w| {
            w.write_char('"')?;
            write!(Escaped(w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

/// `s` as a JSON string.
fn string(w: &mut impl Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    Escaped(&mut *w).write_str(s)?;
    w.write_char('"')
}

/// Writes what it is given escaped for the inside of a JSON string.
struct Escaped<'a, W: Write>(&'a mut W);

impl<W: Write> Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut plain = 0;
        for (i, b) in s.bytes().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&s[plain..i])?;
            if escape.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            plain = i + 1;
        }
        self.0.write_str(&s[plain..])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    fn lines(log: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_writer(captured.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    #[test]
    fn lines_are_json_with_the_event_and_its_span() {
        let lines = lines(|| {
            let span = tracing::info_span!("request", request_id = %"r-1", method = "GET", route = "/x/{id}");
            span.in_scope(|| {
                tracing::info!(status = 200u16, key_prefix = Some("kv_abc"), latency_ms = 1.5, ok = true, "finished");
            });
            tracing::warn!(error = %"a \"quoted\"\nline\u{1}\\", n = -3i64, nan = f64::NAN, "outside");
        });
        assert_eq!(lines.len(), 2);
        let first = &lines[0];
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["target"], module_path!());
        assert_eq!(first["fields"]["message"], "finished");
        assert_eq!(first["fields"]["status"], 200);
        assert_eq!(first["fields"]["key_prefix"], "kv_abc");
        assert_eq!(first["fields"]["latency_ms"], 1.5);
        assert_eq!(first["fields"]["ok"], true);
        assert_eq!(first["span"]["name"], "request");
        assert_eq!(first["span"]["request_id"], "r-1");
        assert_eq!(first["span"]["method"], "GET");
        assert_eq!(first["span"]["route"], "/x/{id}");
        let stamp = first["timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(stamp).is_ok(), "{stamp}");
        assert_eq!(stamp.len(), "2026-12-07T22:07:32.123456Z".len(), "{stamp}");

        let second = &lines[1];
        assert_eq!(second["level"], "WARN");
        assert_eq!(second["fields"]["error"], "a \"quoted\"\nline\u{1}\\");
        assert_eq!(second["fields"]["n"], -3);
        assert!(second["fields"]["nan"].is_null());
        assert!(second.get("span").is_none());
    }

    #[test]
    fn a_span_without_fields_has_its_name() {
        let lines = lines(|| tracing::info_span!("quiet").in_scope(|| tracing::info!("inside")));
        assert_eq!(lines[0]["span"], serde_json::json!({"name": "quiet"}));
    }
}
