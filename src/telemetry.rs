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

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// A worker's buffered lines are written once they reach this many bytes.
pub const THREAD_BUFFER: usize = 16 * 1024;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(Stderr);
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Pretty => {
            use std::io::IsTerminal;
            builder.with_target(false).with_ansi(std::io::stderr().is_terminal()).try_init()
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
