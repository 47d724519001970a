//! Structured logs to stderr (stdout is kept for what scripts capture), `json` or `pretty`.
//! Log fields identify without exposing: ids, key prefixes, routes — never keys, secrets or PHI.
//! Pretty logs are coloured only on a terminal: piped into a file or a log shipper, escape codes
//! are noise.
//!
//! A line logged on one of the runtime's worker threads is gathered in that thread's buffer and
//! written with the others in one call when the worker runs out of work (the runtime's
//! `on_thread_park`, [`flush_thread`]), or at once when the buffer holds [`THREAD_BUFFER`]
//! bytes. An idle server writes each line as it comes; a busy one writes a few dozen at a time,
//! instead of a system call per request (bench/README.md, "Log lines"). Lines from other
//! threads are written at once, and a worker's buffer is written when its thread ends.

use std::cell::RefCell;
use std::io::Write;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

mod json;

/// What is logged when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn";

/// `RUST_LOG`: comma-separated `target=level` directives and a bare default level
/// (`info,sqlx=warn,klinivo::delivery=debug`). A static filter rather than one that also
/// matches spans and fields: it is decided once per call site, where the dynamic one takes a
/// lock on every entry into and exit from a span, several times per request.
pub fn parse_filter(directives: &str) -> Result<Targets, String> {
    let parts: Vec<&str> = directives.split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
    if parts.is_empty() {
        return Err("no directive".into());
    }
    // A bare word is a target to log at every level, so a misspelt level or a span filter
    // (`[request]=debug`) would pass unnoticed: a target must look like a module path.
    for directive in &parts {
        let target = directive.split_once('=').map_or(*directive, |(target, _)| target);
        if target.is_empty() || !target.bytes().all(|b| b.is_ascii_alphanumeric() || b"_:-".contains(&b)) {
            return Err(format!("{directive:?} is not target=level, a level or a target"));
        }
    }
    parts.join(",").parse::<Targets>().map_err(|e| e.to_string())
}

/// A worker's buffered lines are written once they reach this many bytes.
pub const THREAD_BUFFER: usize = 16 * 1024;

/// Installs the global subscriber. `RUST_LOG` is checked by `config` before this runs; an
/// unset, empty or (for callers that skip the check) invalid one gets [`DEFAULT_FILTER`].
pub fn init(format: LogFormat) {
    let directives = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let filter = directives
        .and_then(|d| parse_filter(&d).ok())
        .unwrap_or_else(|| parse_filter(DEFAULT_FILTER).expect("the default filter parses"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(JsonFields::new())
                    .event_format(json::JsonLines)
                    .with_writer(Stderr),
            )
            .try_init(),
        LogFormat::Pretty => {
            use std::io::IsTerminal;
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_target(false)
                        .with_ansi(std::io::stderr().is_terminal())
                        .with_writer(Stderr),
                )
                .try_init()
        }
    };
}

/// The thread's gathered lines; `None` until the thread first parks as a runtime worker.
struct Lines(Option<Vec<u8>>);

impl Lines {
    fn write_out(&mut self) {
        if let Some(bytes) = self.0.as_mut().filter(|b| !b.is_empty()) {
            let _ = std::io::stderr().lock().write_all(bytes);
            bytes.clear();
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        self.write_out();
    }
}

thread_local! {
    static LINES: RefCell<Lines> = const { RefCell::new(Lines(None)) };
}

/// Writes the lines this thread gathered, and from now on gathers them. For the runtime's
/// `on_thread_park`: a worker that is about to wait for work has nothing better to do.
pub fn flush_thread() {
    let _ = LINES.try_with(|lines| {
        if let Ok(mut lines) = lines.try_borrow_mut() {
            lines.write_out();
            lines.0.get_or_insert_with(|| Vec::with_capacity(THREAD_BUFFER));
        }
    });
}

/// stderr, through the thread's buffer where it has one.
#[derive(Clone, Copy)]
struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;
    fn make_writer(&'a self) -> Stderr {
        Stderr
    }
}

impl Write for Stderr {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let gathered = LINES
            .try_with(|lines| {
                let Ok(mut lines) = lines.try_borrow_mut() else { return false };
                let Some(bytes) = lines.0.as_mut() else { return false };
                bytes.extend_from_slice(data);
                if bytes.len() >= THREAD_BUFFER {
                    lines.write_out();
                }
                true
            })
            .unwrap_or(false);
        if !gathered {
            std::io::stderr().lock().write_all(data)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_gathers_lines_only_once_it_has_parked() {
        std::thread::spawn(|| {
            let gathered = || LINES.with(|l| l.borrow().0.as_ref().map(Vec::len));
            Stderr.write_all(b"\n").unwrap();
            assert_eq!(gathered(), None, "a thread that never parked writes at once");
            flush_thread();
            Stderr.write_all(b"\n").unwrap();
            assert_eq!(gathered(), Some(1));
            flush_thread();
            assert_eq!(gathered(), Some(0), "parking writes what was gathered");
        })
        .join()
        .unwrap();
    }
}
