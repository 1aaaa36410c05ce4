//! Progress of long jobs (import, export, backup, restore, a replica's refresh): entries
//! done, rate, pass and time left. On a terminal it is a bar on standard error
//! ([`indicatif`]); otherwise (a pipe, a file, the journal) a log line every few seconds
//! (`BIRCH_PROGRESS_SECS`, default 5). Never on standard output, which may be the LDIF.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Environment variable: seconds between progress log lines when standard error is not a
/// terminal (0: none; fractions allowed).
pub const ENV_PROGRESS_SECS: &str = "BIRCH_PROGRESS_SECS";

/// Default seconds between progress log lines.
const DEFAULT_LOG_SECS: f64 = 5.0;

/// How often a terminal bar is redrawn.
const BAR_EVERY: Duration = Duration::from_millis(200);

/// Work between two looks at the clock.
const CLOCK_EVERY: u64 = 64;

/// The progress of one job, pass after pass.
pub struct Progress {
    job: String,
    pass: String,
    /// Where the pass ends, in the units of `position` (entries, or bytes of a file).
    total: Option<u64>,
    position: u64,
    entries: u64,
    pass_started: Instant,
    bar: Option<ProgressBar>,
    /// Between two reports (a redraw, a log line); `None`: never.
    every: Option<Duration>,
    next: Instant,
    calls: u64,
}

impl Progress {
    /// Progress of `job` (`import`, `export`...): a bar when standard error is a terminal,
    /// log lines otherwise.
    pub fn new(job: &str) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {wide_msg}")
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(job.to_string());
            Progress::with(job, Some(bar), Some(BAR_EVERY))
        } else {
            Progress::logs_only(job)
        }
    }

    /// Progress of `job` as log lines only (a server's own jobs).
    pub fn logs_only(job: &str) -> Progress {
        let secs = std::env::var(ENV_PROGRESS_SECS).ok().and_then(|v| v.trim().parse::<f64>().ok());
        let every = match secs.unwrap_or(DEFAULT_LOG_SECS) {
            s if s > 0.0 && s.is_finite() => Some(Duration::from_secs_f64(s.min(1e9))),
            _ => None,
        };
        Progress::with(job, None, every)
    }

    fn with(job: &str, bar: Option<ProgressBar>, every: Option<Duration>) -> Progress {
        let now = Instant::now();
        Progress {
            job: job.to_string(),
            pass: String::new(),
            total: None,
            position: 0,
            entries: 0,
            pass_started: now,
            next: now + every.unwrap_or_default(),
            bar,
            every,
            calls: 0,
        }
    }

    /// Starts a pass (`check`, `write`...) that ends at `total` (in the units
    /// [`advance`](Self::advance) gives, when known).
    pub fn pass(&mut self, name: &str, total: Option<u64>) {
        self.pass = name.to_string();
        self.total = total;
        self.position = 0;
        self.entries = 0;
        self.pass_started = Instant::now();
        if let Some(bar) = &self.bar {
            bar.set_length(total.unwrap_or(0));
            bar.set_position(0);
        }
    }

    /// One more entry; `position` is where the pass is (None: the entries count).
    pub fn advance(&mut self, position: Option<u64>) {
        self.entries += 1;
        self.position = position.unwrap_or(self.entries);
        self.calls += 1;
        if !self.calls.is_multiple_of(CLOCK_EVERY) {
            return;
        }
        let Some(every) = self.every else { return };
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + every;
        self.report();
    }

    /// Entries of the current pass so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Where the current pass ends, if known.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// `pass: N entries, R/s, P%, about S s left`.
    fn line(&self) -> String {
        let secs = self.pass_started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { self.entries as f64 / secs } else { 0.0 };
        let mut text = format!("{}: {} entries, {:.0}/s", self.pass, self.entries, rate);
        if let Some(total) = self.total.filter(|t| *t > 0) {
            let done = (self.position.min(total) as f64) / total as f64;
            text.push_str(&format!(", {:.0}%", done * 100.0));
            if done > 0.0 {
                text.push_str(&format!(", about {:.0} s left", secs * (1.0 - done) / done));
            }
        }
        text
    }

    fn report(&self) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.position);
                bar.set_message(self.line());
            }
            None => {
                tracing::info!(job = %self.job, pass = %self.pass, entries = self.entries, "progress: {}", self.line())
            }
        }
    }

    /// Ends the job: the bar is cleared (the job prints its own summary).
    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_pass_entries_rate_share_and_time_left() {
        let mut p = Progress::with("import", None, None);
        p.pass("write", Some(200));
        for _ in 0..50 {
            p.advance(None);
        }
        let line = p.line();
        assert!(line.starts_with("write: 50 entries, "), "{line}");
        assert!(line.contains(", 25%, about "), "{line}");
        p.pass("check", None);
        p.advance(Some(10));
        assert!(!p.line().contains('%'), "no total, no share: {}", p.line());
    }
}
