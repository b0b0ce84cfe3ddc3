//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`).
//!
//! When a progress bar is on screen, log lines are written "around" it (the bar is cleared,
//! the line printed, the bar redrawn), so the two never garble each other.

use std::io::Write;

use indicatif::ProgressBar;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::cli::LogFormat;

/// Installs the global subscriber. Safe to call once per process.
pub fn init(format: LogFormat, bar: Option<ProgressBar>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let writer = BarWriter { bar };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Writes log lines to stderr, suspending the progress bar (if any) while doing so.
#[derive(Clone)]
struct BarWriter {
    bar: Option<ProgressBar>,
}

impl<'a> MakeWriter<'a> for BarWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { bar: self.bar.clone(), buffer: Vec::new() }
    }
}

/// Collects one event's output and writes it in one go when dropped.
struct LineWriter {
    bar: Option<ProgressBar>,
    buffer: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let text = std::mem::take(&mut self.buffer);
        let emit = || {
            let _ = std::io::stderr().lock().write_all(&text);
        };
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.suspend(emit),
            _ => emit(),
        }
    }
}
