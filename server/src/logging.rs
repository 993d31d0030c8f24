//! The server's log filter. Operators turn levels up with `RUST_LOG` when they chase a problem;
//! that must never turn record content into log lines. Some dependencies log data at DEBUG or
//! TRACE: `tokio_postgres::query` prints every statement's parameters, which include the
//! Automerge bytes of the records (children's words, as lists of numbers). Those targets are
//! capped here whatever `RUST_LOG` says: a more specific directive wins in `EnvFilter`, and these
//! are added last and as specific as the offending targets.

use tracing_subscriber::EnvFilter;

/// Installs the process's logger: lines on stderr, JSON objects (one a line, the request's span
/// fields — request id, method, route — included) when `json`, text otherwise; the level from
/// [`log_filter`]. Both server binaries call this. A logger already installed is kept.
pub fn init(json: bool, default: &str) {
    let filter = log_filter(default);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json {
        builder.json().with_current_span(true).with_span_list(false).try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
}

/// Targets that would log record content, with the most verbose level that is still safe.
const CONTENT_BEARING_TARGETS: &[&str] =
    &["tokio_postgres::query=info", "tokio_postgres::prepare=info"];

/// `RUST_LOG` (or `default` when it is unset or invalid), with the content-bearing targets capped.
pub fn log_filter(default: &str) -> EnvFilter {
    capped(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)))
}

/// `filter` with the content-bearing targets capped.
pub fn capped(mut filter: EnvFilter) -> EnvFilter {
    for directive in CONTENT_BEARING_TARGETS {
        if let Ok(d) = directive.parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::ErrorKind::Other)?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn content_bearing_targets_stay_quiet_even_at_trace() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(capped(EnvFilter::new("trace,tokio_postgres=trace")))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "tokio_postgres::query", "parameters: CHILD-WORDS");
            tracing::trace!(target: "tokio_postgres::prepare", "statement: CHILD-WORDS");
            tracing::trace!(target: "fieldbook_server::http", "sync handled");
        });
        let text = String::from_utf8(lines.0.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default();
        assert!(text.contains("sync handled"), "our own TRACE lines still show: {text}");
        assert!(!text.contains("CHILD-WORDS"), "a capped target logged: {text}");
    }
}
