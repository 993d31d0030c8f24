//! The server's log filter. Operators turn levels up with `RUST_LOG` when they chase a problem;
//! that must never turn record content into log lines. Some dependencies log data at DEBUG or
//! TRACE: `tokio_postgres::query` prints every statement's parameters, which include the
//! Automerge bytes of the records (children's words, as lists of numbers). Those targets are
//! capped here whatever `RUST_LOG` says: a more specific directive wins in `EnvFilter`, and these
//! are added last and as specific as the offending targets.

use tracing_subscriber::EnvFilter;

/// Targets that would log record content, with the most verbose level that is still safe.
const CONTENT_BEARING_TARGETS: &[&str] =
    &["tokio_postgres::query=info", "tokio_postgres::prepare=info", "rusqlite=info"];

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
    use super::*;

    #[test]
    fn content_bearing_targets_stay_quiet_even_at_trace() {
        let shown = capped(EnvFilter::new("trace")).to_string();
        assert!(shown.contains("tokio_postgres::query=info"), "{shown}");
        // Every directive parses: a typo would silently leave a target at TRACE.
        for directive in CONTENT_BEARING_TARGETS {
            assert!(directive.parse::<tracing_subscriber::filter::Directive>().is_ok());
        }
    }
}
