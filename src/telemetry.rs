//! Structured logs to stderr (stdout is kept for what scripts capture), `json` or `pretty`.
//! Log fields identify without exposing: ids, key prefixes, routes — never keys, secrets or PHI.
//! Pretty logs are coloured only on a terminal: piped into a file or a log shipper, escape codes
//! are noise.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Pretty => {
            use std::io::IsTerminal;
            builder.with_target(false).with_ansi(std::io::stderr().is_terminal()).try_init()
        }
    };
}
